"""A UDP pinger client, as the textbook's pinger assignment asks for: ten pings, a one-second
timeout each, the round-trip time of every answered ping, and "Request timed out" for the rest.

Usage: python3 pinger_client.py PORT [HOST]
"""
import socket
import sys
import time

port = int(sys.argv[1])
host = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
client.settimeout(1.0)
lost = 0
for seq in range(1, 11):
    message = f"Ping {seq} {time.time()}"
    sent = time.time()
    client.sendto(message.encode(), (host, port))
    try:
        reply, _ = client.recvfrom(1024)
    except socket.timeout:
        lost += 1
        print(f"{seq}: Request timed out", flush=True)
        continue
    rtt_ms = (time.time() - sent) * 1000
    print(f"{seq}: {reply.decode()} RTT {rtt_ms:.3f} ms", flush=True)
print(f"{lost} of 10 lost", flush=True)
client.close()
