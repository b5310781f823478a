"""A broken TCP server for `socketlab check`: it answers, then aborts the connection with
SO_LINGER set to zero, so the client sees RST where a close() would have sent FIN.

Usage: python3 tcp_reset_server.py [PORT]   (PORT 0 picks a free port and prints it)
"""
import socket
import struct
import sys

port = int(sys.argv[1]) if len(sys.argv) > 1 else 12000
welcome = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
welcome.bind(("127.0.0.1", port))
welcome.listen(1)
print(f"The server is ready to receive on port {welcome.getsockname()[1]}", flush=True)
while True:
    conn, _ = welcome.accept()
    text = conn.recv(1024).decode()
    conn.send(text.upper().encode())
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()
