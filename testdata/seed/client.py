import socket
import sys

s = socket.socket()

port = 12345
if len(sys.argv) > 1:
	port = int(sys.argv[1])
s.connect(('', port))

print(s.recv(1024).decode())
