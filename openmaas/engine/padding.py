"""How many rows a decode step that carries a seeded request computes.

llama.cpp's CPU matmul for repacked ``q4_K`` weights (ggml-cpu ``repack.cpp``,
``forward_mul_mat_one_chunk`` and the x86 ``ggml_gemm_q4_K_8x8_q8_K``) splits
the rows of a batch by their index, and each part runs other code:

* rows ``[0, n - n % 16)`` go 16 at a time through the GEMM's widest loop
  (512-bit code where the CPU has AVX-512 BW/DQ, 256-bit code otherwise);
* the next ``n % 16 - n % 4`` rows go 4 at a time through its 256-bit loop;
* the last ``n % 4`` rows are quantized one by one and go through the GEMV.

The three paths sum in different orders, so one sequence's logits depend on
how many rows share its step and where its row sits (docs/determinism.md has
the experiment). A step whose row count is a multiple of 16 sends every row
through the first path on every CPU, whatever the other rows are: that is
the rule, and it needs no measurement on the machine it runs on. Padding
rows are dummy sequences in the free decode slots right after the decoding
run, so the decode region is sized to hold them.
"""

from __future__ import annotations

# The widest row group of the repacked CPU kernels (x86's q4_K GEMM; ARM's take 4 rows at a time,
# which divides it).
DECODE_ROW_MULTIPLE = 16


def padded_decode_rows(num_rows: int) -> int:
    """Rows of a padded decode step holding num_rows real ones: the next multiple of 16, at least 16."""
    return max(DECODE_ROW_MULTIPLE, num_rows + (-num_rows % DECODE_ROW_MULTIPLE))
