/* CRC, status names and the integer helpers of ARITHMETIC.md "Notation". */
#include <string.h>

#include "mbnn_internal.h"
#include "mbnn_test.h"

static void test_crc(void)
{
    static const char digits[] = "123456789";
    uint32_t part;

    CHECK_EQ(mbnn_crc32(0, digits, 9), 0xCBF43926u);
    part = mbnn_crc32(0, digits, 4);
    CHECK_EQ(mbnn_crc32(part, digits + 4, 5), 0xCBF43926u);
    CHECK_EQ(mbnn_crc32(0, digits, 0), 0u);
    CHECK_EQ(mbnn_crc32(0, "a", 1), 0xE8B7BE43u);
}

static void test_strerror(void)
{
    int a, b;
    for (a = 0; a < (int)MBNN_STATUS_COUNT; a++) {
        const char *name = mbnn_strerror((mbnn_status)a);
        CHECK(name != NULL && name[0] != '\0');
        for (b = 0; b < a; b++) {
            CHECK(strcmp(name, mbnn_strerror((mbnn_status)b)) != 0);
        }
    }
    CHECK(strcmp(mbnn_strerror(MBNN_ERR_CRC), "blob CRC mismatch") == 0);
    CHECK(mbnn_strerror(MBNN_STATUS_COUNT) != NULL);
    CHECK(mbnn_strerror((mbnn_status)1000) != NULL);
}

/* floor(x / 2^k) computed with division only. */
static int64_t floor_div_pow2(int64_t x, unsigned k)
{
    int64_t d = (int64_t)1 << k;
    int64_t q = x / d;
    if (x % d != 0 && x < 0) {
        q -= 1;
    }
    return q;
}

static void test_asr(void)
{
    static const int32_t xs[] = {0, 1, -1, 2, -2, 3, -3, 7, -7, 8, -8, 9, -9, 65535, -65535, 65536,
                                 -65536, 32768, -32768, 1000000, -1000000, INT32_MAX, INT32_MIN,
                                 INT32_MIN + 1, INT32_MAX - 1};
    unsigned i, k, bad = 0, bad64 = 0;
    for (i = 0; i < sizeof(xs) / sizeof(xs[0]); i++) {
        for (k = 0; k < 32; k++) {
            bad += mbnn_asr32(xs[i], k) != (int32_t)floor_div_pow2(xs[i], k);
            bad64 += mbnn_asr64((int64_t)xs[i] * 40503, k) != floor_div_pow2((int64_t)xs[i] * 40503, k);
        }
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(bad64, 0);
    CHECK_EQ(mbnn_asr64(INT64_MIN, 63), -1);
    CHECK_EQ(mbnn_asr64(-((int64_t)1 << 40), 40), -1);
    CHECK_EQ(mbnn_asr32(-1, 31), -1);
    CHECK_EQ(mbnn_asr32(-5, 1), -3);
}

static void test_isqrt(void)
{
    uint32_t r, bad = 0;
    for (r = 0; r < 70000u; r++) {
        uint32_t s = mbnn_i_isqrt(r);
        bad += !((uint64_t)s * s <= r && (uint64_t)(s + 1) * (s + 1) > r);
    }
    for (r = 1u << 30; r > 70000u; r -= 7919u * 13u) {
        uint32_t s = mbnn_i_isqrt(r);
        bad += !((uint64_t)s * s <= r && (uint64_t)(s + 1) * (s + 1) > r);
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(mbnn_i_isqrt(1u << 30), 32768u);
    CHECK_EQ(mbnn_i_isqrt((1u << 30) - 1u), 32767u);
}

static void test_popcount(void)
{
    uint32_t v = 0x12345678u, bad = 0, i;
    for (i = 0; i < 1000; i++) {
        uint32_t n = 0, w = v;
        while (w != 0u) {
            n += w & 1u;
            w >>= 1;
        }
        bad += mbnn_popcount32(v) != n;
        v = mbnn_i_mix32(v + i);
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(mbnn_popcount32(0xFFFFFFFFu), 32);
    CHECK_EQ(mbnn_popcount32(0), 0);
    CHECK_EQ(mbnn_last_mask(32), 0xFFFFFFFFu);
    CHECK_EQ(mbnn_last_mask(20), 0xFFFFFu);
    CHECK_EQ(mbnn_last_mask(1), 1u);
}

static void test_exp2neg(void)
{
    int64_t d;
    uint32_t prev = 65537u, bad = 0;
    CHECK_EQ(mbnn_i_exp2neg(0, 16), 65536u);
    CHECK_EQ(mbnn_i_exp2neg(0, 0), 65536u);
    /* exp(-1) * 65536 = 24109.4; the approximation is within 0.1%. */
    CHECK(mbnn_i_exp2neg(65536, 16) > 24085u && mbnn_i_exp2neg(65536, 16) < 24134u);
    CHECK_EQ(mbnn_i_exp2neg(1000, 0), 0u);
    CHECK_EQ(mbnn_i_exp2neg((int64_t)0xFFFFFFFFu, 0), 0u);
    for (d = 0; d < 20L * 65536L; d += 97) {
        uint32_t v = mbnn_i_exp2neg(d, 16);
        bad += v > prev;
        prev = v;
    }
    CHECK_EQ(bad, 0);
}

static void test_mix(void)
{
    CHECK_EQ(mbnn_i_mix32(0), 0u);
    CHECK(mbnn_i_mix32(1) != mbnn_i_mix32(2));
}

void mbnn_test_core(void)
{
    test_crc();
    test_strerror();
    test_asr();
    test_isqrt();
    test_popcount();
    test_exp2neg();
    test_mix();
}
