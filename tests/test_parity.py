"""Exactness against the reference implementation, bit for bit.

The reference (../shared/reference/microgpt_reference.py, outside this
repository) implements the same design; compare.py measures the two side by
side. Here both train for a few steps on the classic names with the same seed,
and every parameter must come out equal to the last bit, and the samples
identical. Equal parameters after several Adam steps mean the forward pass,
every gradient (including the order in which its contributions were summed)
and the optimizer all agree exactly.

Skipped where ../shared is absent.
"""

import contextlib
import io
import random
import runpy
import shutil

import pytest

from conftest import NAMES, REPO
from microgpt import (Adam, GPT, Config, Tokenizer, read_docs, sample, split_docs, train,
                      validation_loss)

REFERENCE = REPO.parent / 'shared' / 'reference' / 'microgpt_reference.py'
STEPS = 30
VAL_DOCS = 200   # the command line's default


def run_reference(tmp_path, monkeypatch):
    """The reference's trained parameters (as floats) and its printed samples."""
    shutil.copy(NAMES, tmp_path / 'input.txt')   # it reads input.txt from the working directory
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv('STEPS', str(STEPS))
    out = io.StringIO()
    state = random.getstate()   # the reference seeds the global generator; leave it as found
    try:
        with contextlib.redirect_stdout(out):
            namespace = runpy.run_path(str(REFERENCE), run_name='reference')
    finally:
        random.setstate(state)
    samples = [line.split(':', 1)[1].strip() for line in out.getvalue().splitlines()
               if line.startswith('sample')]
    return [p.data for p in namespace['params']], samples


@pytest.mark.skipif(not (REFERENCE.is_file() and NAMES.is_file()),
                    reason=f'reference or classic names not found at {REFERENCE.parent.parent}')
def test_training_matches_the_reference_bit_for_bit(tmp_path, monkeypatch):
    ref_params, ref_samples = run_reference(tmp_path, monkeypatch)

    # The same story as run(), in the same order of random draws. Holding out
    # a tenth and measuring the validation loss around training must change
    # nothing: the reference has neither. (Sampling runs on plain floats here,
    # on Values in the reference: the samples agree only if the numbers do.)
    config = Config(steps=STEPS)
    rng = random.Random(config.seed)
    docs = read_docs(NAMES.read_text(encoding='utf-8'))
    rng.shuffle(docs)
    tokenizer = Tokenizer(docs)
    train_docs, held_out = split_docs(docs)
    model = GPT(config, tokenizer.vocab_size, rng)
    optimizer = Adam(model.params, config.beta1, config.beta2, config.eps)
    validation_loss(model, tokenizer, held_out[:VAL_DOCS])
    for _ in train(model, optimizer, tokenizer, train_docs, config):
        pass
    validation_loss(model, tokenizer, held_out[:VAL_DOCS])
    samples = [sample(model, tokenizer, rng, config.temperature) for _ in range(config.num_samples)]

    assert len(model.params) == len(ref_params) == 4192
    differing = [i for i, (p, r) in enumerate(zip(model.params, ref_params)) if p.data != r]
    assert not differing, f'{len(differing)} parameters differ from the reference, first {differing[:5]}'
    assert len(ref_samples) == 20
    assert samples == ref_samples
