"""A broken TCP client for `socketlab check`: it sends, prints the reply, and then keeps the
connection open instead of closing it.

Usage: python3 tcp_client_never_closes.py [PORT] < sentence
"""
import socket
import sys
import time

port = int(sys.argv[1]) if len(sys.argv) > 1 else 12000
conn = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
conn.connect(("127.0.0.1", port))
conn.send(input("Sentence: ").encode())
print("Reply:", conn.recv(1024).decode(), flush=True)
time.sleep(60)
