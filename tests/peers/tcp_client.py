"""A TCP client that behaves like the lesson's TCPClient.py.

Usage: python3 tcp_client.py [PORT] < sentence
"""
import socket
import sys

port = int(sys.argv[1]) if len(sys.argv) > 1 else 12000
cli = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
cli.settimeout(10)
cli.connect(("127.0.0.1", port))
sentence = input("Input lowercase sentence:")
cli.send(sentence.encode())
reply = cli.recv(1024)
print("From Server: ", reply.decode(), flush=True)
cli.close()
