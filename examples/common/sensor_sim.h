/*
 * A simulated sensor for the examples: each reading is one of n_classes
 * patterns (a sign per feature, fixed by the class) with random magnitudes
 * and noise, as floats around 0, like a normalized accelerometer window.
 * Deterministic (xorshift32), so two runs see the same readings.
 * Replace sensor_sim_read with your sensor.
 */
#ifndef SENSOR_SIM_H
#define SENSOR_SIM_H

#include <stddef.h>
#include <stdint.h>

static inline uint32_t sensor_sim_next(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

/* A uniform float in [0, 1). */
static inline float sensor_sim_unit(uint32_t *s) { return (float)(sensor_sim_next(s) >> 8) * (1.0f / 16777216.0f); }

/* Fill reading[0..n) with a reading of a random class; returns the class. */
static inline int sensor_sim_read(uint32_t *rng, float *reading, size_t n, unsigned n_classes)
{
    int label = (int)(sensor_sim_next(rng) % n_classes);
    for (size_t i = 0; i < n; i++) {
        uint32_t h = (uint32_t)(label + 1) * 2654435761u ^ (uint32_t)i * 40503u; /* the class's pattern */
        h ^= h >> 15;
        float sign = (h * 2246822519u) >> 31 ? -1.0f : 1.0f;
        float noise = sensor_sim_unit(rng) + sensor_sim_unit(rng) - 1.0f;
        reading[i] = sign * (0.08f + 0.4f * sensor_sim_unit(rng)) + 0.3f * noise;
    }
    return label;
}

#endif
