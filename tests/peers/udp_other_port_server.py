"""A broken UDP server for `socketlab check`: it answers from a second socket, so every
reply comes from a port the client never wrote to.

Usage: python3 udp_other_port_server.py [PORT]   (PORT 0 picks a free port and prints it)
"""
import socket
import sys

port = int(sys.argv[1]) if len(sys.argv) > 1 else 12000
listening = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
listening.bind(("127.0.0.1", port))
answering = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
answering.bind(("127.0.0.1", 0))
print(f"The server is ready to receive on port {listening.getsockname()[1]}", flush=True)
while True:
    payload, sender = listening.recvfrom(2048)
    answering.sendto(payload.decode().upper().encode(), sender)
