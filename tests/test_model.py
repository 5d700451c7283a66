"""The model, its loss, the optimizer, training and sampling."""

import math
import random

import pytest

import microgpt
from microgpt import (GPT, Adam, Config, Tokenizer, Value, document_loss, position_losses,
                      read_docs, sample, train)
from conftest import (TINY_WORDS, adam_for, cpython_only, gc_disabled, live_values, make_model,
                      tiny_config, weights)


# --- Config and Tokenizer -----------------------------------------------------

def test_config_overrides_apply_to_the_instance_only():
    """Config(**overrides) changes that instance; the class defaults stay put."""
    default_embd = Config.n_embd
    c = Config(n_embd=default_embd * 2, steps=7, batch_size=3)
    assert (c.n_embd, c.steps, c.batch_size) == (default_embd * 2, 7, 3)
    assert Config().n_embd == default_embd
    assert Config.n_embd == default_embd


def test_config_rejects_unknown_settings():
    with pytest.raises(TypeError):
        Config(n_embed=8)   # misspelt


@pytest.mark.parametrize('name', ['mro', '__init__', 'refresh'])
def test_config_rejects_names_that_are_not_settings(name):
    """An attribute every class has (mro), a private one, or a name from
    elsewhere in the file is not a setting."""
    with pytest.raises(TypeError):
        Config(**{name: 1})


def test_tokenizer_ids_and_round_trip():
    """Distinct characters get ids 0.. in sorted order; BOS is the next id and wraps each doc."""
    docs = ['banana', 'zoë', '東京']
    tok = Tokenizer(docs)
    assert tok.chars == sorted(set('bananazoë東京'))
    assert tok.bos == len(tok.chars) == tok.vocab_size - 1
    for doc in docs:
        ids = tok.encode(doc)
        assert ids[0] == ids[-1] == tok.bos
        assert len(ids) == len(doc) + 2
        assert tok.bos not in ids[1:-1]
        assert tok.decode(ids[1:-1]) == doc
    assert [tok.chars[i] for i in tok.encode('ab')[1:-1]] == ['a', 'b']


# --- GPT structure ------------------------------------------------------------

def test_parameters_are_every_weight_of_every_matrix():
    """params lists each weight of the state_dict exactly once, with the GPT shapes."""
    n, v, block, layers = 8, 6, 5, 2
    model = GPT(Config(n_embd=n, n_head=2, n_layer=layers, block_size=block), v, random.Random(0))
    shapes = {name: (len(mat), len(mat[0])) for name, mat in model.state_dict.items()}
    expected = {'wte': (v, n), 'wpe': (block, n), 'lm_head': (v, n)}
    for i in range(layers):
        expected.update({f'layer{i}.attn_wq': (n, n), f'layer{i}.attn_wk': (n, n),
                         f'layer{i}.attn_wv': (n, n), f'layer{i}.attn_wo': (n, n),
                         f'layer{i}.mlp_fc1': (4 * n, n), f'layer{i}.mlp_fc2': (n, 4 * n)})
    assert shapes == expected
    assert all(isinstance(mat, microgpt.Matrix) for mat in model.state_dict.values())
    in_matrices = [p for mat in model.state_dict.values() for row in mat for p in row]
    assert len(model.params) == sum(r * c for r, c in expected.values())
    assert [id(p) for p in model.params] == [id(p) for p in in_matrices]
    assert len({id(p) for p in model.params}) == len(model.params)
    model.new_cache(graph=False)   # takes the float copies the float path reads
    for mat in model.state_dict.values():
        assert mat.numbers == [[p.data for p in row] for row in mat]


def test_initial_weights_follow_seed_and_init_std():
    """Same seed, same weights; the weights are centred with the configured spread."""
    config = Config(n_embd=16, n_head=4, init_std=0.05)
    a = GPT(config, 10, random.Random(7))
    b = GPT(config, 10, random.Random(7))
    c = GPT(config, 10, random.Random(8))
    data_a = weights(a)
    assert data_a == weights(b)
    assert data_a != weights(c)
    mean = sum(data_a) / len(data_a)
    std = math.sqrt(sum((x - mean) ** 2 for x in data_a) / len(data_a))
    assert abs(mean) < 0.005
    assert std == pytest.approx(0.05, rel=0.05)


@pytest.mark.parametrize('graph', [True, False], ids=['values', 'floats'])
def test_logits_cover_the_vocabulary_and_look_back(graph):
    """One logit per token; the prediction at position 1 depends on the token at 0."""
    model, tok, _ = make_model(['abc', 'cab'], seed=3)

    def logits_at_1(first):
        cache = model.new_cache(graph)
        model(first, 0, cache)
        logits = model(tok.ids['a'], 1, cache)
        return [z.data for z in logits] if graph else logits

    after_b = logits_at_1(tok.ids['b'])
    after_c = logits_at_1(tok.ids['c'])
    assert len(after_b) == tok.vocab_size
    assert all(math.isfinite(z) for z in after_b)
    assert after_b != after_c


def test_a_position_never_sees_the_positions_after_it():
    """Causality: the logits at position t are the same whatever comes after t."""
    model, tok, _ = make_model(['abcd'], seed=2, n_layer=2)

    def logits(text):
        cache = model.new_cache(graph=False)
        return [model(tok.ids[ch], pos, cache) for pos, ch in enumerate(text)]

    first, second = logits('abca'), logits('abdd')
    assert first[:2] == second[:2]     # 'ab' read alike
    assert first[2] != second[2]       # the third token differs


# --- the loss -------------------------------------------------------------------

def cross_entropy(logits, target):
    top = max(logits)
    return top + math.log(math.fsum(math.exp(z - top) for z in logits)) - logits[target]


def test_loss_is_mean_cross_entropy_of_the_logits():
    """document_loss = mean over positions of -log softmax(logits)[next token]."""
    model, tok, _ = make_model(['abcab', 'cba'], seed=4, n_layer=2)
    tokens = tok.encode('abcab')
    cache = model.new_cache(graph=True)
    terms = []
    for pos in range(len(tokens) - 1):
        z = [v.data for v in model(tokens[pos], pos, cache)]
        terms.append(cross_entropy(z, tokens[pos + 1]))
    expected = math.fsum(terms) / len(terms)
    assert document_loss(model, tokens).data == pytest.approx(expected, rel=1e-12)
    assert position_losses(model, tokens, graph=False) == pytest.approx(terms, rel=1e-12)


def test_all_zero_model_scores_log_vocab_size():
    """With every weight 0 all logits are 0, so the loss is exactly uniform guessing: ln V."""
    model, tok, _ = make_model(['abcd', 'de'], init_std=0.0)
    assert all(p == 0.0 for p in weights(model))
    loss = document_loss(model, tok.encode('abcd'))
    assert loss.data == pytest.approx(math.log(tok.vocab_size), rel=1e-12)


def count_positions(monkeypatch):
    """A list that gets one entry per position the model reads (GPT.__call__)."""
    calls = []
    real_call = GPT.__call__

    def counting_call(model, token_id, pos_id, cache):
        calls.append(pos_id)
        return real_call(model, token_id, pos_id, cache)
    monkeypatch.setattr(GPT, '__call__', counting_call)
    return calls


def test_long_document_is_cut_to_the_context(monkeypatch):
    """A document longer than block_size is read, and scored, on its first block_size positions."""
    long_doc = ('abcde' * 2000)[:10_000]
    model, tok, config = make_model([long_doc], seed=5)
    calls = count_positions(monkeypatch)
    full = document_loss(model, tok.encode(long_doc)).data
    assert calls == list(range(config.block_size))
    cut = document_loss(model, tok.encode(long_doc[:config.block_size])).data
    assert full == cut
    del calls[:]
    assert len(position_losses(model, tok.encode(long_doc), graph=False)) == config.block_size
    assert calls == list(range(config.block_size))


def test_a_probability_of_exactly_zero_is_a_floating_point_error():
    """Weights so large that a softmax underflows to 0 cannot give a loss of
    infinity: position_losses raises, on Values and on floats alike."""
    model, tok, _ = make_model(TINY_WORDS, seed=1, init_std=1e3)
    for graph in (True, False):
        with pytest.raises(FloatingPointError, match='became 0'):
            position_losses(model, tok.encode('banana'), graph)


def test_a_probability_that_is_not_a_number_is_a_floating_point_error():
    """A NaN weight makes every probability NaN, which no comparison with a
    threshold can catch as 'too small': position_losses names it all the same."""
    model, tok, _ = make_model(TINY_WORDS, seed=1)
    model.state_dict['lm_head'][0][0].data = float('nan')
    for graph in (True, False):
        with pytest.raises(FloatingPointError, match='became nan'):
            position_losses(model, tok.encode('banana'), graph)


def loss_on_floats(model, tokens):
    """The document's mean loss, computed afresh on plain floats (no graph)."""
    losses = position_losses(model, tokens, graph=False)
    return microgpt.vsum(losses) * (1 / len(losses))


def central_difference(model, tokens, p, h):
    """(L(p + h) - L(p - h)) / 2h for one parameter p, leaving p as it was."""
    x = p.data
    p.data = x + h
    loss_plus = loss_on_floats(model, tokens)
    p.data = x - h
    loss_minus = loss_on_floats(model, tokens)
    p.data = x
    return (loss_plus - loss_minus) / (2 * h)


def test_whole_model_gradient_matches_finite_differences_for_every_parameter():
    """backward() on document_loss gives every parameter its finite-difference derivative.

    Model: Config(n_layer=2, n_embd=8, n_head=2, block_size=8), vocabulary of 4
    (3 characters + BOS), so 1,664 parameters; document 'cab' (4 positions).
    Each parameter is nudged by +-h and the loss computed afresh on plain
    floats (a new document takes a new float copy of the weights).

    Tolerance: h = 1e-6 on a loss of ~1.4 made of thousands of float64 ops.
    Truncation error (h^2 |L'''| / 6) is ~1e-12; the rounding error of two
    forward passes divided by 2h is a few ulps of the loss over 2e-6, i.e.
    ~1e-10. The check |num - ana| <= 1e-8 + 1e-6 |num| leaves ample headroom
    over that, yet sits far below the gradients themselves (median ~1e-3): a
    missing term, a wrong scale such as attention's 1/sqrt(head_dim), or a
    wrong sign shows up as an error of the size of a gradient, not of 1e-8.
    """
    h, atol, rtol = 1e-6, 1e-8, 1e-6
    docs = ['abc', 'cab', 'bca']
    tok = Tokenizer(docs)
    config = Config(n_layer=2, n_embd=8, n_head=2, block_size=8)
    model = GPT(config, tok.vocab_size, random.Random(11))
    tokens = tok.encode('cab')

    loss = document_loss(model, tokens)
    loss.backward()
    analytic = [p.grad for p in model.params]
    # Most parameters take part: only unused position rows and dead ReLUs get 0.
    assert sum(g != 0.0 for g in analytic) > 0.9 * len(analytic)

    failures = []
    for i, p in enumerate(model.params):
        numeric = central_difference(model, tokens, p, h)
        if not abs(numeric - analytic[i]) <= atol + rtol * abs(numeric):
            failures.append((i, numeric, analytic[i]))
    assert not failures, f'{len(failures)} of {len(analytic)} gradients wrong, e.g. {failures[:5]}'


def test_a_layer_whose_mlp_units_are_all_off_still_has_the_right_gradients():
    """With layer 0's fc1 all zeros, every unit of its MLP is off at every
    position (relu(0) = 0): the MLP's output is constants, which the residual
    stream adds, and the rest of the model must still get its
    finite-difference gradients, with the loss on Values equal, bit for bit,
    to the loss on floats. (fc1 itself sits on relu's kink, so finite
    differences cannot check it; fc1 and fc2 of that layer get 0.)"""
    h, atol, rtol = 1e-6, 1e-8, 1e-6
    docs = ['abc', 'cab', 'bca']
    tok = Tokenizer(docs)
    model = GPT(Config(n_layer=2, n_embd=8, n_head=2, block_size=8), tok.vocab_size, random.Random(5))
    for row in model.state_dict['layer0.mlp_fc1']:
        for p in row:
            p.data = 0.0
    tokens = tok.encode('cab')
    loss = document_loss(model, tokens)
    assert loss.data == loss_on_floats(model, tokens)
    loss.backward()
    dead = {id(p) for name in ('layer0.mlp_fc1', 'layer0.mlp_fc2')
            for row in model.state_dict[name] for p in row}
    assert all(p.grad == 0.0 for p in model.params if id(p) in dead)
    checked, failures = 0, []
    for p in model.params:
        if id(p) in dead:
            continue
        numeric = central_difference(model, tokens, p, h)
        checked += 1
        if not abs(numeric - p.grad) <= atol + rtol * abs(numeric):
            failures.append((numeric, p.grad))
    assert checked > 1000 and not failures, f'{len(failures)} of {checked} wrong, e.g. {failures[:5]}'


# --- graph pruning in the model --------------------------------------------

@cpython_only
def test_backward_frees_the_whole_training_graph():
    """After backward, no node of a document's graph is alive (reference counting only)."""
    model, tok, _ = make_model(['abca', 'bc'], seed=6, n_layer=2)
    with gc_disabled():
        before = live_values()
        loss = document_loss(model, tok.encode('abca'))
        built = live_values() - before
        assert built > 1000
        loss.backward()
        alive = live_values() - before
        assert alive == 1, f'{alive - 1} of {built} graph nodes outlived backward'
        assert not loss._children
    # The parameters are not part of the graph that is freed, and now hold gradients.
    assert any(p.grad != 0.0 for p in model.params)


@cpython_only
def test_logits_are_freed_by_backward():
    """The logits of a forward pass, kept alive only by the loss's graph, die
    with backward, and so does all of the forward pass: the cache too, once let go."""
    model, tok, _ = make_model(['abca', 'bc'], seed=6)
    tokens = tok.encode('ab')
    with gc_disabled():
        before = live_values()
        cache = model.new_cache(graph=True)
        model(tokens[0], 0, cache)
        logits = model(tokens[1], 1, cache)
        loss = -microgpt.softmax(logits)[tokens[2]].log()
        del logits, cache
        assert live_values() - before > 100
        loss.backward()
        assert live_values() - before == 1
        assert not loss._children


@cpython_only
def test_a_training_step_frees_its_graph_before_the_next_is_built(monkeypatch):
    """When train() starts a step's forward pass, the last step's graph is gone:
    two graphs never take up memory at once. (The last loss itself, a node or
    two whose children backward() let go of, may still be held.)"""
    model, tok, config = make_model(TINY_WORDS, seed=1, steps=4)
    real_document_loss = microgpt.document_loss
    alive_at_start, built = [], []

    def watched(model, tokens):
        alive_at_start.append(live_values())
        loss = real_document_loss(model, tokens)
        built.append(live_values() - alive_at_start[-1])
        return loss

    monkeypatch.setattr(microgpt, 'document_loss', watched)
    with gc_disabled():
        steps = [step for step, _ in train(model, adam_for(model, config), tok, TINY_WORDS, config)]
    assert steps == [1, 2, 3, 4]
    assert min(built) > 500
    assert all(alive - alive_at_start[0] <= 5 for alive in alive_at_start), alive_at_start


# --- the optimizer ------------------------------------------------------------

def test_adam_first_step_has_the_learning_rate_as_its_size():
    """Bias correction makes step 1 move each parameter by lr against its gradient's sign."""
    params = [Value(x) for x in (0.5, -0.2, 1.0, 3.0)]
    grads = [0.3, -2e-3, 40.0, 0.0]
    for p, g in zip(params, grads):
        p.grad = g
    before = [p.data for p in params]
    Adam(params, beta1=0.85, beta2=0.99, eps=1e-8).step(0.1)
    for p, g, x in zip(params, grads, before):
        expected_move = 0.0 if g == 0 else -0.1 * math.copysign(1.0, g)
        assert p.data - x == pytest.approx(expected_move, rel=1e-4, abs=1e-12)
        assert p.grad == 0.0, 'the step must zero the gradient for the next one'


def test_adam_keeps_running_means_of_the_gradient_and_its_square():
    """Two steps by hand: m and v follow their formulas, and so does the update."""
    p = Value(1.0)
    opt = Adam([p], beta1=0.8, beta2=0.9, eps=1e-8)
    m = v = 0.0
    x = 1.0
    for t, g in enumerate([0.5, -2.0], start=1):
        p.grad = g
        opt.step(0.01)
        m = 0.8 * m + 0.2 * g
        v = 0.9 * v + 0.1 * g * g
        x -= 0.01 * (m / (1 - 0.8 ** t)) / (math.sqrt(v / (1 - 0.9 ** t)) + 1e-8)
        assert opt.m[0] == pytest.approx(m, rel=1e-12)
        assert opt.v[0] == pytest.approx(v, rel=1e-12)
        assert p.data == pytest.approx(x, rel=1e-12)
    assert opt.t == 2


def test_adam_minimises_a_quadratic():
    """Adam with decaying steps finds the minimum of a badly scaled quadratic."""
    x, y = Value(0.0), Value(0.0)
    opt = Adam([x, y], beta1=0.9, beta2=0.99, eps=1e-8)
    steps = 500
    for t in range(steps):
        f = (x + -3.0) ** 2 + (y + 1.0) ** 2 * 10.0
        f.backward()
        opt.step(0.1 * (1 - t / steps))
    assert x.data == pytest.approx(3.0, abs=1e-3)
    assert y.data == pytest.approx(-1.0, abs=1e-3)


# --- training -------------------------------------------------------------------

def _train_tiny(seed, steps, num_samples=0, temperature=1.0, **overrides):
    """The whole pipeline in miniature: shuffle, weights, train, sample, all from one seed."""
    rng = random.Random(seed)
    docs = list(TINY_WORDS)
    rng.shuffle(docs)
    config = tiny_config(steps=steps, **overrides)
    tok = Tokenizer(docs)
    model = GPT(config, tok.vocab_size, rng)
    losses = [loss for _, loss in train(model, adam_for(model, config), tok, docs, config)]
    samples = [sample(model, tok, rng, temperature) for _ in range(num_samples)]
    return losses, samples, model, tok


def test_training_lowers_the_loss():
    """150 steps on 30 short words: the last 20 losses average well below the first 20."""
    losses, _, _, tok = _train_tiny(seed=0, steps=150)
    assert len(losses) == 150
    assert all(math.isfinite(x) for x in losses)
    first, last = sum(losses[:20]) / 20, sum(losses[-20:]) / 20
    assert last < first - 0.3, f'mean loss went from {first:.3f} to only {last:.3f}'
    assert last < 0.8 * math.log(tok.vocab_size)


def test_training_in_batches_lowers_the_loss():
    losses, _, _, tok = _train_tiny(seed=0, steps=60, batch_size=4)
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < first - 0.3, f'mean loss went from {first:.3f} to only {last:.3f}'


def test_train_yields_every_step_with_its_pre_update_loss():
    """train() yields (step, loss) for steps 1..N; step 1's loss is the initial model's."""
    docs = ['abba', 'baab', 'ab']
    model, tok, config = make_model(docs, seed=9, steps=6)
    twin, _, _ = make_model(docs, seed=9)
    initial_loss = document_loss(twin, tok.encode(docs[0])).data
    yielded = list(train(model, adam_for(model, config), tok, docs, config))
    assert [step for step, _ in yielded] == [1, 2, 3, 4, 5, 6]
    assert yielded[0][1] == initial_loss
    assert weights(model) != weights(twin)


def test_a_batch_step_reads_the_next_documents_in_order_going_round():
    """batch_size 2 over 3 documents: step 1 reads documents 0 and 1, step 2
    reads 2 and 0; the loss of a step is the mean of its documents' losses."""
    docs = ['abba', 'baab', 'ab']
    model, tok, config = make_model(docs, seed=9, steps=2, batch_size=2)
    twin, _, _ = make_model(docs, seed=9)
    expected = [document_loss(twin, tok.encode(d)).data for d in docs[:2]]
    yielded = train(model, adam_for(model, config), tok, docs, config)
    step, loss = next(yielded)
    assert (step, loss) == (1, (expected[0] + expected[1]) * (1 / 2))
    after_one = [document_loss(model, tok.encode(d)).data for d in (docs[2], docs[0])]
    step, loss = next(yielded)
    assert (step, loss) == (2, (after_one[0] + after_one[1]) * (1 / 2))


def test_the_learning_rate_decays_linearly_to_zero():
    """Step k of N updates with lr (1 - (k-1)/N): Adam's step size, seen in the
    first update of a fresh optimizer at each step (bias correction makes it lr)."""
    docs = ['abba', 'baab', 'ab']
    model, tok, config = make_model(docs, seed=9, steps=4, learning_rate=0.02)
    seen = []

    class Recording(Adam):
        def step(self, lr):
            seen.append(lr)
            super().step(lr)
    for _ in train(model, Recording(model.params, 0.85, 0.99, 1e-8), tok, docs, config):
        pass
    assert seen == [0.02 * (1 - k / 4) for k in range(4)]


def test_stopping_train_between_steps_keeps_the_steps_so_far():
    """Leaving the loop after step 3 of 6 leaves exactly the model a full run has after step 3.

    That is what a first Ctrl-C does. (Not the same as a 3-step run: the
    learning rate decays over the 6 steps that were planned.)
    """
    docs = ['abba', 'baab', 'ab', 'bab']
    model, tok, config = make_model(docs, seed=4, steps=6)
    twin, _, _ = make_model(docs, seed=4)
    for step, _ in train(model, adam_for(model, config), tok, docs, config):
        if step == 3:
            break
    after_three = None
    for step, _ in train(twin, adam_for(twin, config), tok, docs, config):
        if step == 3:
            after_three = weights(twin)
    assert weights(model) == after_three
    assert weights(twin) != after_three   # the full run went on
    assert all(p.grad == 0.0 for p in model.params)


def test_training_resumed_from_a_step_goes_on_as_an_unbroken_run():
    """train(..., first_step=3) with the model and optimizer after step 3 gives
    the very weights, and losses, of a run that never stopped."""
    docs = ['abba', 'baab', 'ab', 'bab', 'aab']
    model, tok, config = make_model(docs, seed=4, steps=7, batch_size=2)
    optimizer = adam_for(model, config)
    first = []
    for step, loss in train(model, optimizer, tok, docs, config):
        first.append((step, loss))
        if step == 3:
            break
    rest = list(train(model, optimizer, tok, docs, config, first_step=3))
    twin, _, _ = make_model(docs, seed=4)
    unbroken = list(train(twin, adam_for(twin, config), tok, docs, config))
    assert first + rest == unbroken
    assert [step for step, _ in rest] == [4, 5, 6, 7]
    assert weights(model) == weights(twin)


def test_training_on_a_very_long_document_reads_the_context_only(monkeypatch):
    """A 10,000 character line costs one context's worth of positions per step."""
    long_doc = ('zoë東京' * 3000)[:10_000]
    model, tok, config = make_model([long_doc, 'zoë'], seed=1, steps=4)
    twin, _, _ = make_model([long_doc, 'zoë'], seed=1)
    first_loss = document_loss(twin, tok.encode(long_doc[:config.block_size])).data
    calls = count_positions(monkeypatch)
    losses = [loss for _, loss in train(model, adam_for(model, config), tok,
                                        [long_doc, 'zoë'], config)]
    assert losses[0] == first_loss
    assert all(math.isfinite(x) for x in losses)
    # steps 1 and 3 read the long line (block_size positions), 2 and 4 'zoë' (4)
    assert len(calls) == 2 * config.block_size + 2 * 4


def test_a_loss_that_is_not_a_number_stops_training():
    """A learning rate that blows the weights up ends training with FloatingPointError."""
    model, tok, config = make_model(TINY_WORDS, seed=1, steps=50, learning_rate=1e6)
    with pytest.raises(FloatingPointError):
        for _ in train(model, adam_for(model, config), tok, TINY_WORDS, config):
            pass


def test_same_seed_same_samples_different_seed_different_samples():
    """Two independent runs with one seed agree exactly; another seed gives other samples."""
    losses_a, samples_a, _, tok = _train_tiny(seed=5, steps=30, num_samples=8)
    losses_b, samples_b, _, _ = _train_tiny(seed=5, steps=30, num_samples=8)
    losses_c, samples_c, _, _ = _train_tiny(seed=6, steps=30, num_samples=8)
    assert losses_a == losses_b
    assert samples_a == samples_b
    assert samples_c != samples_a
    assert losses_c != losses_a


# --- sampling -------------------------------------------------------------------

def test_samples_use_corpus_characters_and_fit_the_context():
    """Samples are strings over the corpus alphabet, at most block_size long."""
    model, tok, config = make_model(TINY_WORDS, seed=2, block_size=4)
    rng = random.Random(0)
    samples = [sample(model, tok, rng, 2.0) for _ in range(40)]
    allowed = set(''.join(TINY_WORDS))
    assert all(set(s) <= allowed for s in samples)
    assert max(len(s) for s in samples) == config.block_size   # stops when the context is full
    assert min(len(s) for s in samples) < config.block_size    # and when BOS is drawn


def greedy(model, tok, prefix=''):
    """The sample that always takes the likeliest next token, worked out from the logits."""
    cache = model.new_cache(graph=True)
    token, out = tok.bos, []
    given = [tok.ids[ch] for ch in prefix]
    for pos in range(model.block_size):
        z = [v.data for v in model(token, pos, cache)]
        token = given[pos] if pos < len(given) else max(range(len(z)), key=z.__getitem__)
        if token == tok.bos:
            break
        out.append(token)
    return tok.decode(out)


def test_near_zero_temperature_samples_the_most_likely_token():
    """As temperature -> 0 sampling becomes greedy: the argmax of the logits, every time."""
    _, _, model, tok = _train_tiny(seed=3, steps=60)
    expected = greedy(model, tok)
    assert expected   # a trained model does not end at once
    for seed in range(3):
        assert sample(model, tok, random.Random(seed), 1e-4) == expected


# --- the classic names data set (optional) -------------------------------------

def test_a_few_training_steps_on_the_names_data(names_path):
    """On the 32k names: 26 letters + BOS, and the loss starts near ln 27 and stays finite."""
    docs = read_docs(names_path.read_text(encoding='utf-8'))
    assert len(docs) > 30_000
    tok = Tokenizer(docs)
    assert tok.chars == [chr(c) for c in range(ord('a'), ord('z') + 1)]
    rng = random.Random(42)
    rng.shuffle(docs)
    config = Config(steps=20)
    model = GPT(config, tok.vocab_size, rng)
    losses = [loss for _, loss in train(model, adam_for(model, config), tok, docs, config)]
    assert abs(sum(losses[:5]) / 5 - math.log(27)) < 0.3
    assert all(math.isfinite(x) for x in losses)
