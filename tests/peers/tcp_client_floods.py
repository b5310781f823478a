"""A hostile TCP client for `socketlab check`: it sends its sentence and prints the reply, then
keeps sending filler, as fast as the server takes it, for up to 40 MB, without closing.

Usage: python3 tcp_client_floods.py [PORT] < sentence
"""
import socket
import sys

port = int(sys.argv[1]) if len(sys.argv) > 1 else 12000
conn = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
conn.connect(("127.0.0.1", port))
conn.send(input("Sentence: ").encode())
print("Reply:", conn.recv(1024).decode(), flush=True)
filler = b"x" * 4096
try:
    for _ in range(10_000):
        conn.sendall(filler)
except OSError:
    pass
