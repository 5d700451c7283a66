"""Graph-free evaluation: the forward pass on plain floats.

Training feeds the model Values, so that every operation is recorded for
backward(). Validation and sampling need only the numbers, and run the very
same functions on plain floats (a cache made with graph=False). The promise
is that the two compute the same numbers bit for bit, and that the float path
builds no Value at all. Both are checked here, for the default model and for
models of odd sizes, untrained and after a few training steps.

The Value side of each comparison is worked out here from the model's
graph=True forward pass and microgpt's Value operations, so a difference in
any helper (linear, rmsnorm, softmax, mlp, dot, the attention, the float
copies of the weights) shows up as numbers that differ.
"""

import math
import random

import pytest

from microgpt import (GPT, Config, Tokenizer, Value, position_losses, read_docs, sample, softmax,
                      train, validation_loss)
from conftest import INPUT, adam_for, weights

DOCS = read_docs(INPUT.read_text(encoding='utf-8'))
random.Random(0).shuffle(DOCS)
TOKENIZER = Tokenizer(DOCS)

SIZES = [
    ('default', {}),
    ('n_embd 12, n_head 3', dict(n_embd=12, n_head=3)),
    ('n_embd 48, n_head 6, n_layer 2', dict(n_embd=48, n_head=6, n_layer=2)),
    ('block_size 5', dict(block_size=5)),
    ('n_embd 1, n_head 1, n_layer 3', dict(n_embd=1, n_head=1, n_layer=3)),
]
SIZE_IDS = [name for name, _ in SIZES]


def model_of(settings, trained_steps):
    """A model for input.txt's vocabulary, trained for trained_steps steps."""
    config = Config(steps=max(trained_steps, 1), **settings)
    model = GPT(config, TOKENIZER.vocab_size, random.Random(3))
    if trained_steps:
        for _ in train(model, adam_for(model, config), TOKENIZER, DOCS, config):
            pass
    return model


@pytest.fixture(scope='module', params=[(s, n) for s in SIZES for n in (0, 3)],
                ids=[f'{name}, {n}' for name in SIZE_IDS for n in ('untrained', 'trained 3 steps')])
def model(request):
    (name, settings), steps = request.param
    return model_of(settings, steps)


def documents(model):
    """Documents of every length around the context's: shorter, equal, longer."""
    by_length = {}
    for doc in DOCS:
        by_length.setdefault(len(doc), doc)
    lengths = sorted({1, 2, model.block_size - 1, model.block_size, model.block_size + 1, 11})
    return [by_length[n] for n in lengths if n in by_length]


def sample_with_values(model, tokenizer, rng, temperature, prefix=''):
    """Sampling as sample() does it, but on the graph: every number a Value."""
    given = [tokenizer.ids[ch] for ch in prefix]
    cache = model.new_cache(graph=True)
    token_id, out = tokenizer.bos, []
    for pos_id in range(model.block_size):
        logits = model(token_id, pos_id, cache)
        assert all(isinstance(z, Value) for z in logits)
        if pos_id < len(given):
            token_id = given[pos_id]
        else:
            probs = softmax([z / temperature for z in logits])
            token_id = rng.choices(range(model.vocab_size), weights=[p.data for p in probs])[0]
            if token_id == tokenizer.bos:
                break
        out.append(token_id)
    return tokenizer.decode(out)


def test_logits_on_floats_are_the_logits_on_values_bit_for_bit(model):
    for doc in documents(model):
        tokens = TOKENIZER.encode(doc)
        on_values, on_floats = model.new_cache(graph=True), model.new_cache(graph=False)
        for pos_id in range(min(model.block_size, len(tokens) - 1)):
            graph = model(tokens[pos_id], pos_id, on_values)
            plain = model(tokens[pos_id], pos_id, on_floats)
            assert all(isinstance(z, Value) for z in graph)
            assert all(type(z) is float for z in plain)
            assert [z.data for z in graph] == plain, (doc, pos_id)


def test_losses_on_floats_are_the_losses_on_values_bit_for_bit(model):
    for doc in documents(model):
        tokens = TOKENIZER.encode(doc)
        graph = position_losses(model, tokens, graph=True)
        plain = position_losses(model, tokens, graph=False)
        assert all(type(x) is float for x in plain)
        assert len(plain) == min(model.block_size, len(tokens) - 1)
        assert [x.data for x in graph] == plain, doc


def test_validation_loss_is_the_mean_of_the_losses_on_values_bit_for_bit(model):
    docs = DOCS[:12] + documents(model)
    total, count = 0.0, 0
    for doc in docs:
        for loss in position_losses(model, TOKENIZER.encode(doc[:model.block_size]), graph=True):
            total += loss.data
            count += 1
    got = validation_loss(model, TOKENIZER, docs)
    assert type(got) is float
    assert got == total / count
    assert 0 < got < 2 * math.log(TOKENIZER.vocab_size)


@pytest.mark.parametrize('temperature, prefix', [(0.5, ''), (1.3, ''), (1.0, 'ma')])
def test_samples_on_floats_are_the_samples_on_values(model, temperature, prefix):
    """Probabilities equal to the last bit draw the same tokens from the same
    generator, so every sample is the same, and the generators end up alike."""
    on_floats, on_values = random.Random(5), random.Random(5)
    got = [sample(model, TOKENIZER, on_floats, temperature, prefix) for _ in range(5)]
    expected = [sample_with_values(model, TOKENIZER, on_values, temperature, prefix)
                for _ in range(5)]
    assert got == expected
    assert on_floats.getstate() == on_values.getstate()
    assert all(s.startswith(prefix) and len(s) <= model.block_size for s in got)


class ValueCounter:
    """Counts every Value made while it is installed."""

    def __init__(self, monkeypatch):
        self.made = 0
        real_init = Value.__init__

        def counting_init(value, *args, **kwargs):
            self.made += 1
            real_init(value, *args, **kwargs)
        monkeypatch.setattr(Value, '__init__', counting_init)


def test_the_float_path_builds_no_value_at_all(monkeypatch):
    model = model_of(dict(n_embd=12, n_head=3), trained_steps=2)
    docs = DOCS[:10]
    counter = ValueCounter(monkeypatch)
    # The counter does count: the graph path makes thousands of Values.
    position_losses(model, TOKENIZER.encode('emma'), graph=True)
    assert counter.made > 1000
    counter.made = 0
    cache = model.new_cache(graph=False)
    for pos_id, token in enumerate(TOKENIZER.encode('emma')[:-1]):
        model(token, pos_id, cache)
    position_losses(model, TOKENIZER.encode('emma'), graph=False)
    validation_loss(model, TOKENIZER, docs)
    rng = random.Random(0)
    for temperature, prefix in ((0.5, ''), (2.0, 'a')):
        sample(model, TOKENIZER, rng, temperature, prefix)
    assert counter.made == 0


def test_every_document_is_read_with_the_weights_as_they_are_then():
    """The float copies are taken when a document starts (new_cache), so weights
    changed by training or by hand are what the next document is read with,
    on both paths alike."""
    config = Config(n_embd=8, n_head=2, steps=3)
    model = GPT(config, TOKENIZER.vocab_size, random.Random(1))
    before = weights(model)
    for _ in train(model, adam_for(model, config), TOKENIZER, DOCS, config):
        model.new_cache(graph=False)
        for name, mat in model.state_dict.items():
            assert mat.numbers == [[p.data for p in row] for row in mat], name
    assert weights(model) != before
    tokens = TOKENIZER.encode('anna')
    old = position_losses(model, tokens, graph=False)
    for p in model.state_dict['lm_head'][TOKENIZER.ids['n']]:
        p.data += 1.0
    new = position_losses(model, tokens, graph=False)
    assert new != old
    assert new == [x.data for x in position_losses(model, tokens, graph=True)]
