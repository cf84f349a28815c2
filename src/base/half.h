// half.h — IEEE fp16 and bfloat16 <-> fp32 conversion, round-to-nearest-even.
// NaN stays NaN (quiet, sign kept), Inf stays Inf, fp16 subnormals are exact both ways,
// values beyond the fp16 range round to Inf as IEEE requires.
#pragma once
#include <stddef.h>
#include <stdint.h>

float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f);
float bf16_to_fp32(uint16_t b);
uint16_t fp32_to_bf16(float f);

void fp16_to_fp32_array(float *dst, const uint16_t *src, size_t n);
void fp32_to_fp16_array(uint16_t *dst, const float *src, size_t n);
void bf16_to_fp32_array(float *dst, const uint16_t *src, size_t n);
void fp32_to_bf16_array(uint16_t *dst, const float *src, size_t n);
