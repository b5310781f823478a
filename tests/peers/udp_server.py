"""A UDP upper-case server that behaves like the lesson's UDPServer.py.

Usage: python3 udp_server.py [PORT]   (PORT 0 picks a free port and prints it)
Like the lesson's server it dies with UnicodeDecodeError on bytes that are not UTF-8.
"""
import socket
import sys

port = int(sys.argv[1]) if len(sys.argv) > 1 else 12000
srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
srv.bind(("127.0.0.1", port))
print(f"The server is ready to receive on port {srv.getsockname()[1]}", flush=True)
while True:
    data, client = srv.recvfrom(2048)
    text = data.decode()
    print("receive message: " + text, flush=True)
    srv.sendto(text.upper().encode(), client)
