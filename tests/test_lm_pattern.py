import pytest
import torch

from audiogen.lm.pattern import build_delayed, delay_steps, revert_delayed, valid_mask

SPECIAL = 99


def slow_build(codes: torch.Tensor, special: int) -> torch.Tensor:
    """Loop reference: step s of codebook k holds frame s - 1 - k."""
    b, k, t = codes.shape
    out = torch.full((b, k, t + k), special, dtype=codes.dtype)
    for i in range(b):
        for q in range(k):
            for s in range(t + k):
                frame = s - 1 - q
                if 0 <= frame < t:
                    out[i, q, s] = codes[i, q, frame]
    return out


@pytest.mark.parametrize(("k", "t"), [(1, 5), (3, 4), (4, 1), (4, 17)])
def test_build_matches_loop_reference_and_reverts(k, t):
    codes = torch.randint(0, 50, (2, k, t))
    seq = build_delayed(codes, SPECIAL)
    assert seq.shape == (2, k, delay_steps(t, k))
    assert torch.equal(seq, slow_build(codes, SPECIAL))
    assert torch.equal(revert_delayed(seq), codes)
    assert torch.equal(revert_delayed(seq, t - 1), codes[..., : t - 1])


def test_pattern_drawing_of_the_docstring():
    codes = torch.tensor([[[1, 2, 3, 4]] * 3])
    s = SPECIAL
    expected = torch.tensor([[[s, 1, 2, 3, 4, s, s], [s, s, 1, 2, 3, 4, s], [s, s, s, 1, 2, 3, 4]]])
    assert torch.equal(build_delayed(codes, s), expected)
    assert torch.equal(valid_mask(4, 3), expected[0] != s)


def test_padding_frames_stay_special_and_empty_input():
    codes = torch.tensor([[[1, 2, SPECIAL], [5, 6, SPECIAL]]])
    seq = build_delayed(codes, SPECIAL)
    assert (seq == SPECIAL).sum() == 2 * 5 - 4  # 4 real codes among 2 x 5 positions
    assert torch.equal(build_delayed(torch.zeros(1, 2, 0, dtype=torch.long), SPECIAL), torch.full((1, 2, 2), SPECIAL))


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match=r"\[B, K, T\]"):
        build_delayed(torch.zeros(3, 4, dtype=torch.long), SPECIAL)
    with pytest.raises(ValueError, match="at most"):
        revert_delayed(torch.zeros(1, 4, 6, dtype=torch.long), 5)
