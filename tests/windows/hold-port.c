/* hold-port.exe PORT SECONDS — a Windows program that holds UDP PORT the way most
 * programs do (a plain bind, no SO_REUSEADDR: it does not share), prints
 * "HOLDING PORT" and reads what arrives there for SECONDS, then exits. (Reading, not
 * just sleeping: under Wine a socket's file descriptor reaches the program's own
 * process only once it does I/O, and only then can Wine name its owner.) The Windows tests run it under
 * Wine to see what networkzero's programs and `nw0 doctor` make of such a program.
 * Built by tests/windows/setup.sh with mingw-w64; never committed as a binary.
 */
#include <winsock2.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    WSADATA wsa;
    struct sockaddr_in address = {0};
    SOCKET s;
    DWORD timeout;
    ULONGLONG deadline;
    char buffer[2048];

    if (argc != 3) {
        fprintf(stderr, "usage: hold-port PORT SECONDS\n");
        return 2;
    }
    if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0) {
        fprintf(stderr, "hold-port: WSAStartup failed\n");
        return 1;
    }
    s = socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP);
    address.sin_family = AF_INET;
    address.sin_port = htons((u_short)atoi(argv[1]));
    if (s == INVALID_SOCKET || bind(s, (struct sockaddr *)&address, sizeof address) != 0) {
        fprintf(stderr, "hold-port: cannot bind UDP %s: error %d\n", argv[1], WSAGetLastError());
        return 1;
    }
    timeout = 200;
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, (const char *)&timeout, sizeof timeout);
    printf("HOLDING %s\n", argv[1]);
    fflush(stdout);
    deadline = GetTickCount64() + (ULONGLONG)atoi(argv[2]) * 1000;
    while (GetTickCount64() < deadline)
        recv(s, buffer, sizeof buffer, 0);
    return 0;
}
