"""A TCP upper-case server that behaves like the lesson's TCPServer.py.

Usage: python3 tcp_server.py [PORT [BACKLOG]]   (PORT 0 picks a free port and prints it;
BACKLOG is the lesson's listen(1) unless given, so benchmarks can compare equal backlogs)
One client at a time: accept, recv(1024), upper-case, send, close.
"""
import socket
import sys

port = int(sys.argv[1]) if len(sys.argv) > 1 else 12000
welcome = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
welcome.bind(("127.0.0.1", port))
welcome.listen(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
print(f"The server is ready to receive on port {welcome.getsockname()[1]}", flush=True)
while True:
    conn, addr = welcome.accept()
    sentence = conn.recv(1024).decode()
    upper = sentence.upper()
    print("Receive Message: " + upper, flush=True)
    conn.send(upper.encode())
    conn.close()
