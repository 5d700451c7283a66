"""microgpt's engine against a plain implementation of the same GPT (plain_gpt.py).

microgpt fuses nodes (a whole dot product is one node), prunes the graph as
backward goes, and reads weights from float copies: all for speed, and all
places where a bug could hide. plain_gpt.py does none of that. Here both
start from the same weights and train side by side; at every step the loss,
the gradient of every parameter, and (after Adam's update) every weight must
agree.

How closely. The forward pass does the same arithmetic in the same order in
both, as long as sum() adds floats left to right, as CPython before 3.12 and
PyPy do: then the first loss, computed from identical weights, must be equal
to the last bit. Gradients are not summed in the same order (a fused dot node
hands out its contributions in one go, the plain graph one product node at a
time), and from 3.12 on sum() rounds more carefully than a chain of +. Float
addition is not associative, so those numbers may differ in the last bits:
by a few ulps of the largest terms involved. Every other comparison is
therefore within TOL, relative to the largest magnitude in the same matrix
(for a loss, to the loss itself).

Measured over runs of up to 8 steps of these models (CPython 3.11 and PyPy
3.9 alike, and CPython 3.11 with sum() swapped for a compensated one, like
3.12's): at most 1.6e-15 for gradients, 1.3e-15 for weights and 2.6e-16 for
losses, i.e. a few ulps. TOL is three orders of magnitude above that, and still far below
what a bug does: a gradient changed by a millionth of itself fails, and a
billionth still fails for over 99% of them (see
test_the_comparison_catches_a_gradient_off_by_one_millionth).
"""

import math
import random

import pytest

import microgpt
import plain_gpt
from conftest import REPO

TOL = 1e-12

# The names of a layer's matrices (the same in both models).
LAYER_MATRICES = ('attn_wq', 'attn_wk', 'attn_wv', 'attn_wo', 'mlp_fc1', 'mlp_fc2')

# CPython before 3.12 and PyPy give 0.0 (1e16 + 1 rounds back to 1e16);
# a compensated sum() keeps the 1.
SUM_ADDS_LEFT_TO_RIGHT = sum([1e16, 1.0, -1e16]) == 0.0

# Words over a few letters, one longer than the tiny model's context of 8, so
# that cutting a document to the context is exercised too.
WORDS = ['ada', 'bob', 'cecil', 'abracadabra', 'dora', 'lee', 'bella', 'carol', 'ali', 'rob']


def matrix_names(n_layer):
    """(plain name, microgpt name) for every matrix of a model."""
    pairs = [(name, name) for name in ('wte', 'wpe', 'lm_head')]
    for i in range(n_layer):
        pairs += [(f'layer{i}.{name}', f'layer{i}.{name}') for name in LAYER_MATRICES]
    return pairs


def twin_models(docs, **settings):
    """(config, tokenizer, microgpt model, plain model), the plain one with the same weights."""
    config = microgpt.Config(**settings)
    tokenizer = microgpt.Tokenizer(docs)
    model = microgpt.GPT(config, tokenizer.vocab_size, random.Random(config.seed))
    names = matrix_names(config.n_layer)
    # Every matrix is named, and model.params holds exactly their weights, in
    # order: otherwise some parameter would escape the comparisons below.
    assert sorted(model.state_dict) == sorted(m for _, m in names)
    assert [id(p) for p in model.params] == [
        id(p) for rows in model.state_dict.values() for row in rows for p in row]
    weights = {p: [[w.data for w in row] for row in model.state_dict[m]] for p, m in names}
    plain = plain_gpt.PlainGPT(weights, config.n_layer, config.n_head, config.block_size)
    return config, tokenizer, model, plain


def difference(ours, theirs, attr):
    """The largest |ours - theirs| of attr ('grad' or 'data') over a matrix, over
    the largest |theirs| in it: 0 if every difference is exactly 0, infinite
    if ours holds a NaN or an infinity (which max() would quietly skip)."""
    a = [getattr(v, attr) for row in ours for v in row]
    b = [getattr(v, attr) for row in theirs for v in row]
    if not all(map(math.isfinite, a)):
        return math.inf
    worst, scale = max(abs(x - y) for x, y in zip(a, b)), max(map(abs, b))
    return 0.0 if worst == 0 else worst / scale if scale else math.inf


def assert_matrices_agree(model, plain, attr, worst):
    """Every matrix's attr within TOL; worst[attr] keeps the largest difference seen."""
    for p_name, m_name in matrix_names(plain.n_layer):
        ours, theirs = model.state_dict[m_name], plain.state_dict[p_name]
        assert [len(row) for row in ours] == [len(row) for row in theirs], m_name
        d = difference(ours, theirs, attr)
        assert d <= TOL, f'{m_name}: {attr} differs by {d:.3g} of the matrix largest'
        worst[attr] = max(worst[attr], d)


def train_side_by_side(docs, steps, **settings):
    """Train both models for `steps` steps, comparing as they go; return the worst differences."""
    config, tokenizer, model, plain = twin_models(docs, **settings)
    assert list(tokenizer.chars) == sorted(set(''.join(docs)))
    ours = microgpt.Adam(model.params, config.beta1, config.beta2, config.eps)
    theirs = plain_gpt.Adam(plain.params, config.beta1, config.beta2, config.eps)
    worst = {'loss': 0.0, 'grad': 0.0, 'data': 0.0}
    for step in range(steps):
        doc = docs[step % len(docs)]
        tokens = plain_gpt.encode(doc, tokenizer.chars, config.block_size)
        assert tokenizer.encode(doc[:config.block_size]) == tokens
        # microgpt gets the whole document: document_loss must cut it itself.
        loss = microgpt.document_loss(model, tokenizer.encode(doc))
        plain_loss = plain.loss(tokens)
        if step == 0 and SUM_ADDS_LEFT_TO_RIGHT:
            assert loss.data == plain_loss.data   # same weights, same arithmetic
        d = abs(loss.data - plain_loss.data) / plain_loss.data
        assert d <= TOL, f'step {step}: loss {loss.data!r} vs {plain_loss.data!r}'
        worst['loss'] = max(worst['loss'], d)

        loss.backward()
        plain_loss.backward()
        assert_matrices_agree(model, plain, 'grad', worst)

        lr = config.learning_rate * (1 - step / steps)
        ours.step(lr)
        theirs.step(lr)
        assert_matrices_agree(model, plain, 'data', worst)
        assert all(p.grad == 0.0 for p in model.params)   # Adam.step zeroes them
    print('largest differences:', {k: f'{v:.2g}' for k, v in worst.items()})
    return worst


def test_small_two_layer_model_agrees_with_the_plain_one():
    train_side_by_side(WORDS, steps=6, n_layer=2, n_embd=8, n_head=2, block_size=8)


def test_default_model_agrees_with_the_plain_one_on_input_txt():
    with open(REPO / 'input.txt', encoding='utf-8') as f:
        docs = [line.strip() for line in f if line.strip()]
    c = microgpt.Config()
    assert (c.n_layer, c.n_embd, c.n_head, c.block_size) == (1, 16, 4, 16)
    train_side_by_side(docs, steps=4)


def test_train_follows_the_plain_training_loop():
    """microgpt.train, not just its parts: the same document each step, cut the
    same way, and the same learning-rate decay, to the same weights."""
    steps = 12   # more than len(WORDS): it goes round
    config, tokenizer, model, plain = twin_models(
        WORDS, steps=steps, n_layer=1, n_embd=8, n_head=2, block_size=8, learning_rate=0.02)
    optimizer = microgpt.Adam(model.params, config.beta1, config.beta2, config.eps)
    ours = [loss for _, loss in microgpt.train(model, optimizer, tokenizer, WORDS, config)]
    theirs = list(plain_gpt.train(plain, WORDS, tokenizer.chars, steps, lr=0.02))
    assert len(ours) == steps
    for step, (a, b) in enumerate(zip(ours, theirs)):
        assert abs(a - b) <= TOL * b, f'step {step}: loss {a!r} vs {b!r}'
    assert_matrices_agree(model, plain, 'data', {'data': 0.0})


def test_the_comparison_catches_a_gradient_off_by_one_millionth():
    """TOL is loose enough for rounding, not for a small bug."""
    config, tokenizer, model, plain = twin_models(
        WORDS, n_layer=1, n_embd=8, n_head=2, block_size=8)
    microgpt.document_loss(model, tokenizer.encode(WORDS[1])).backward()
    plain.loss(plain_gpt.encode(WORDS[1], tokenizer.chars, config.block_size)).backward()
    assert_matrices_agree(model, plain, 'grad', {'grad': 0.0})
    # Nudge a typical gradient (the median of the nonzero ones) by a millionth.
    nonzero = sorted((p for p in model.params if p.grad != 0.0), key=lambda p: abs(p.grad))
    nonzero[len(nonzero) // 2].grad *= 1 + 1e-6
    with pytest.raises(AssertionError):
        assert_matrices_agree(model, plain, 'grad', {'grad': 0.0})


def test_plain_gradients_match_finite_differences():
    """The plain model itself is right: its backward agrees with central
    differences, (L(w + h) - L(w - h)) / 2h, for one weight of each matrix."""
    docs = ['abcab', 'bca']
    _, tokenizer, _, plain = twin_models(docs, n_layer=1, n_embd=4, n_head=2, block_size=4,
                                         init_std=0.5)
    tokens = plain_gpt.encode(docs[0], tokenizer.chars, plain.block_size)
    plain.loss(tokens).backward()
    # h balances the two errors of a central difference: truncation, about
    # h^2, and rounding, about 1e-16 / h. At 1e-5 both are far below the 1e-6
    # asked for (measured: under 1e-7, over every weight of this model).
    h = 1e-5
    rng = random.Random(1)
    for name, rows in plain.state_dict.items():
        # A weight that moves the loss (not, say, the embedding of a token the
        # document lacks, or a weight behind a ReLU that is off).
        w = rng.choice([w for row in rows for w in row if w.grad != 0.0])
        saved = w.data
        w.data = saved + h
        up = plain.loss(tokens).data
        w.data = saved - h
        down = plain.loss(tokens).data
        w.data = saved
        numeric = (up - down) / (2 * h)
        assert math.isclose(w.grad, numeric, rel_tol=1e-6, abs_tol=1e-9), (name, w.grad, numeric)
