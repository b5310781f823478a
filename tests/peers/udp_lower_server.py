"""A broken UDP server for `socketlab check`: it lower-cases instead of upper-casing.

Usage: python3 udp_lower_server.py [PORT]   (PORT 0 picks a free port and prints it)
"""
import socket
import sys

port = int(sys.argv[1]) if len(sys.argv) > 1 else 12000
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", port))
print(f"The server is ready to receive on port {sock.getsockname()[1]}", flush=True)
while True:
    payload, sender = sock.recvfrom(2048)
    sock.sendto(payload.decode().lower().encode(), sender)
