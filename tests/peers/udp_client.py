"""A UDP client that behaves like the lesson's UDPClient.py.

Usage: python3 udp_client.py [PORT] < lines   (stops at a line "end" or at end of input)
"""
import socket
import sys

port = int(sys.argv[1]) if len(sys.argv) > 1 else 12000
cli = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
cli.settimeout(10)
while True:
    try:
        line = input("Input lowercase sentence:")
    except EOFError:
        break
    if line == "end":
        break
    cli.sendto(line.encode(), ("127.0.0.1", port))
    reply, _ = cli.recvfrom(2048)
    print(reply.decode(), flush=True)
cli.close()
