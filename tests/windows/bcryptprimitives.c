/* bcryptprimitives.dll for Wine 8.0, which lacks it.
 *
 * Rust's standard library (1.78+) imports ProcessPrng from bcryptprimitives.dll for
 * its random numbers (HashMap keys); every Windows 10/11 has the DLL, Wine 8.0 does
 * not, so a Rust .exe fails to load there (exit 53). This forwards to RtlGenRandom
 * (SystemFunction036 in advapi32), which Wine has. Built by tests/windows/setup.sh
 * with mingw-w64 and put in each test prefix's system32; never committed as a binary.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length); /* RtlGenRandom */

/* Like Windows' ProcessPrng: fills data with len random bytes. (Windows' never fails;
 * this one returns FALSE if RtlGenRandom does.) */
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
