/*  libFuzzer's entry point for one fuzz target, chosen when it is built
    (PL_FUZZ_ENTRY=pl_fuzz_<name>, see CMakeLists.txt): the target's function is the
    whole of it, so the corpus replay test runs exactly what libFuzzer ran. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return PL_FUZZ_ENTRY(data, size);
}
