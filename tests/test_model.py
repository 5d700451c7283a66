"""The model, its loss, the optimizer, training and sampling."""

import math
import random
import time
import weakref

import pytest

import microgpt
from microgpt import GPT, Adam, Config, Tokenizer, document_loss, sample, topological_order, train
from conftest import TINY_WORDS, gc_disabled, make_model, tiny_config


# --- Config and Tokenizer -----------------------------------------------------

def test_config_overrides_apply_to_the_instance_only():
    """Config(**overrides) changes that instance; the class defaults stay put."""
    default_embd = Config.n_embd
    c = Config(n_embd=default_embd * 2, steps=7)
    assert (c.n_embd, c.steps) == (default_embd * 2, 7)
    assert Config().n_embd == default_embd
    assert Config.n_embd == default_embd


def test_config_rejects_unknown_settings():
    with pytest.raises(TypeError):
        Config(n_embed=8)   # misspelt


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
        expected.update({f'layer{i}.wq': (n, n), f'layer{i}.wk': (n, n),
                         f'layer{i}.wv': (n, n), f'layer{i}.wo': (n, n),
                         f'layer{i}.fc1': (4 * n, n), f'layer{i}.fc2': (n, 4 * n)})
    assert shapes == expected
    in_matrices = [p for mat in model.state_dict.values() for row in mat for p in row]
    assert len(model.params) == sum(r * c for r, c in expected.values())
    assert {id(p) for p in model.params} == {id(p) for p in in_matrices}
    assert len({id(p) for p in model.params}) == len(model.params)


def test_initial_weights_follow_seed_and_init_std():
    """Same seed, same weights; the weights are centred with the configured spread."""
    config = Config(n_embd=16, n_head=4, init_std=0.05)
    a = GPT(config, 10, random.Random(7))
    b = GPT(config, 10, random.Random(7))
    c = GPT(config, 10, random.Random(8))
    data_a = [p.data for p in a.params]
    assert data_a == [p.data for p in b.params]
    assert data_a != [p.data for p in c.params]
    mean = sum(data_a) / len(data_a)
    std = math.sqrt(sum((x - mean) ** 2 for x in data_a) / len(data_a))
    assert abs(mean) < 0.005
    assert std == pytest.approx(0.05, rel=0.05)


def test_logits_cover_the_vocabulary_and_look_back():
    """One logit per token; the prediction at position 1 depends on the token at 0."""
    model, tok, _ = make_model(['abc', 'cab'], seed=3)

    def logits_at_1(first):
        cache = model.new_cache()
        model(first, 0, cache)
        return [z.data for z in model(tok.encode('a')[1], 1, cache)]

    after_b = logits_at_1(tok.encode('b')[1])
    after_c = logits_at_1(tok.encode('c')[1])
    assert len(after_b) == tok.vocab_size
    assert all(math.isfinite(z) for z in after_b)
    assert after_b != after_c


# --- the loss -------------------------------------------------------------------

def test_loss_is_mean_cross_entropy_of_the_logits():
    """document_loss = mean over positions of -log softmax(logits)[next token]."""
    model, tok, _ = make_model(['abcab', 'cba'], seed=4, n_layer=2)
    tokens = tok.encode('abcab')
    cache = model.new_cache()
    terms = []
    for pos in range(len(tokens) - 1):
        z = [v.data for v in model(tokens[pos], pos, cache)]
        top = max(z)
        log_total = top + math.log(math.fsum(math.exp(zi - top) for zi in z))
        terms.append(log_total - z[tokens[pos + 1]])
    expected = math.fsum(terms) / len(terms)
    assert document_loss(model, tokens).data == pytest.approx(expected, rel=1e-12)


def test_all_zero_model_scores_log_vocab_size():
    """With every weight 0 all logits are 0, so the loss is exactly uniform guessing: ln V."""
    model, tok, _ = make_model(['abcd', 'de'], init_std=0.0)
    assert all(p.data == 0.0 for p in model.params)
    loss = document_loss(model, tok.encode('abcd'))
    assert loss.data == pytest.approx(math.log(tok.vocab_size), rel=1e-12)


def test_long_document_is_cut_to_the_context():
    """A document longer than block_size is scored on its first block_size positions."""
    long_doc = ('abcde' * 2000)[:10_000]
    model, tok, config = make_model([long_doc], seed=5)
    start = time.perf_counter()
    full = document_loss(model, tok.encode(long_doc)).data
    elapsed = time.perf_counter() - start
    cut = document_loss(model, tok.encode(long_doc[:config.block_size])).data
    assert full == cut
    assert elapsed < 2.0, 'a 10,000 character document should cost only block_size positions'


def test_whole_model_gradient_matches_finite_differences_for_every_parameter():
    """backward() on document_loss gives every parameter its finite-difference derivative.

    Model: Config(n_layer=2, n_embd=8, n_head=2, block_size=8), vocabulary of 4
    (3 characters + BOS), so 1,664 parameters; document 'cab' (4 positions).
    Each parameter is nudged by +-h and the loss rebuilt from scratch.

    Tolerance: h = 1e-6 on a loss of ~1.4 made of thousands of float64 ops.
    Truncation error (h^2 |L'''| / 6) is ~1e-12; the rounding error of two
    forward passes divided by 2h is a few ulps of the loss over 2e-6, i.e.
    ~1e-10 (the largest difference measured on Python 3.9 to 3.13 is 2.6e-10).
    The check |num - ana| <= 1e-8 + 1e-6 |num| leaves ~40x headroom over that,
    yet sits far below the gradients themselves (median 1.8e-3): a missing
    term, a wrong scale such as attention's 1/sqrt(head_dim), or a wrong sign
    shows up as an error of the size of a gradient, not of 1e-8.
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
    with gc_disabled():   # speed only: every graph is freed by reference counting
        for i, p in enumerate(model.params):
            x = p.data
            p.data = x + h
            loss_plus = document_loss(model, tokens).data
            p.data = x - h
            loss_minus = document_loss(model, tokens).data
            p.data = x
            numeric = (loss_plus - loss_minus) / (2 * h)
            if not abs(numeric - analytic[i]) <= atol + rtol * abs(numeric):
                failures.append((i, numeric, analytic[i]))
    assert not failures, f'{len(failures)} of {len(analytic)} gradients wrong, e.g. {failures[:5]}'


# --- graph pruning in the model --------------------------------------------

def test_backward_frees_the_whole_training_graph():
    """After backward, no node of a document's graph is alive (reference counting only)."""
    model, tok, _ = make_model(['abca', 'bc'], seed=6, n_layer=2)
    with gc_disabled():
        loss = document_loss(model, tok.encode('abca'))
        refs = [weakref.ref(node) for node in topological_order(loss) if node is not loss]
        assert len(refs) > 1000
        assert all(r() is not None for r in refs)
        loss.backward()
        alive = sum(r() is not None for r in refs)
        assert alive == 0, f'{alive} of {len(refs)} graph nodes outlived backward'
        assert not loss._children
    # The parameters are not part of the graph that is freed, and now hold gradients.
    assert any(p.grad != 0.0 for p in model.params)


def test_logits_are_freed_by_backward():
    """The logits of a forward pass, kept alive only by the loss's graph, die with backward."""
    model, tok, _ = make_model(['abca', 'bc'], seed=6)
    tokens = tok.encode('ab')
    with gc_disabled():
        cache = model.new_cache()
        model(tokens[0], 0, cache)
        logits = model(tokens[1], 1, cache)
        probs = microgpt.softmax(logits)
        loss = -probs[tokens[2]].log()
        logit_refs = [weakref.ref(z) for z in logits]
        del logits, probs, cache
        assert all(r() is not None for r in logit_refs)
        loss.backward()
        assert all(r() is None for r in logit_refs)
        assert not loss._children


# --- the optimizer ------------------------------------------------------------

def test_validation_frees_each_document_graph_before_building_the_next(monkeypatch):
    """validation_loss keeps only numbers: by the time it starts on a document,
    no loss of the previous one is alive, and with it none of that document's
    graph. (Holding on to them until the next graph was built nearly doubled
    the memory it needed.)"""
    model, tok, _ = make_model(TINY_WORDS, seed=1)
    real_position_losses = microgpt.position_losses
    earlier = []

    def watched(model, tokens):
        assert all(ref() is None for ref in earlier), "the previous document's graph is alive"
        losses = real_position_losses(model, tokens)
        earlier.extend(weakref.ref(loss) for loss in losses)
        return losses

    monkeypatch.setattr(microgpt, 'position_losses', watched)
    with gc_disabled():
        microgpt.validation_loss(model, tok, ['bananabe', 'abba', 'nede'])
    assert len(earlier) == 8 + 5 + 5


def test_adam_first_step_has_the_learning_rate_as_its_size():
    """Bias correction makes step 1 move each parameter by lr against its gradient's sign."""
    params = [microgpt.Value(x) for x in (0.5, -0.2, 1.0, 3.0)]
    grads = [0.3, -2e-3, 40.0, 0.0]
    for p, g in zip(params, grads):
        p.grad = g
    before = [p.data for p in params]
    Adam(params, beta1=0.85, beta2=0.99, eps=1e-8).step(0.1)
    for p, g, x in zip(params, grads, before):
        expected_move = 0.0 if g == 0 else -0.1 * math.copysign(1.0, g)
        assert p.data - x == pytest.approx(expected_move, rel=1e-4, abs=1e-12)
        assert p.grad == 0.0, 'the step must zero the gradient for the next one'


def test_adam_minimises_a_quadratic():
    """Adam with decaying steps finds the minimum of a badly scaled quadratic."""
    x, y = microgpt.Value(0.0), microgpt.Value(0.0)
    opt = Adam([x, y], beta1=0.9, beta2=0.99, eps=1e-8)
    steps = 500
    for t in range(steps):
        f = (x - 3.0) ** 2 + 10.0 * (y + 1.0) ** 2
        f.backward()
        opt.step(0.1 * (1 - t / steps))
    assert x.data == pytest.approx(3.0, abs=1e-3)
    assert y.data == pytest.approx(-1.0, abs=1e-3)


# --- training -------------------------------------------------------------------

def _train_tiny(seed, steps, num_samples=0, temperature=1.0):
    """The whole pipeline in miniature: shuffle, weights, train, sample, all from one seed."""
    rng = random.Random(seed)
    docs = list(TINY_WORDS)
    rng.shuffle(docs)
    config = tiny_config(steps=steps)
    tok = Tokenizer(docs)
    model = GPT(config, tok.vocab_size, rng)
    losses = [loss for _, loss in train(model, tok, docs, config)]
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


def test_train_yields_every_step_with_its_pre_update_loss():
    """train() yields (step, loss) for steps 1..N; step 1's loss is the initial model's."""
    docs = ['abba', 'baab', 'ab']
    model, tok, config = make_model(docs, seed=9, steps=6)
    twin, _, _ = make_model(docs, seed=9)
    initial_loss = document_loss(twin, tok.encode(docs[0])).data
    yielded = list(train(model, tok, docs, config))
    assert [step for step, _ in yielded] == [1, 2, 3, 4, 5, 6]
    assert yielded[0][1] == initial_loss
    assert [p.data for p in model.params] != [p.data for p in twin.params]


def test_stopping_train_between_steps_keeps_the_steps_so_far():
    """Leaving the loop after step 3 of 6 leaves exactly the model a full run has after step 3.

    That is what a first Ctrl-C does. (Not the same as a 3-step run: the
    learning rate decays over the 6 steps that were planned.)
    """
    docs = ['abba', 'baab', 'ab', 'bab']
    model, tok, config = make_model(docs, seed=4, steps=6)
    twin, _, _ = make_model(docs, seed=4)
    for step, _ in train(model, tok, docs, config):
        if step == 3:
            break
    after_three = None
    for step, _ in train(twin, tok, docs, config):
        if step == 3:
            after_three = [p.data for p in twin.params]
    assert [p.data for p in model.params] == after_three
    assert [p.data for p in twin.params] != after_three   # the full run went on
    assert all(p.grad == 0.0 for p in model.params)


def test_training_on_a_very_long_document_uses_the_context_only():
    """A 10,000 character line trains quickly on the first block_size characters."""
    long_doc = ('zoë東京' * 3000)[:10_000]
    model, tok, config = make_model([long_doc, 'zoë'], seed=1, steps=4)
    twin, _, _ = make_model([long_doc, 'zoë'], seed=1)
    start = time.perf_counter()
    losses = [loss for _, loss in train(model, tok, [long_doc, 'zoë'], config)]
    assert time.perf_counter() - start < 5.0
    assert losses[0] == document_loss(twin, tok.encode(long_doc[:config.block_size])).data
    assert all(math.isfinite(x) for x in losses)


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


def test_near_zero_temperature_samples_the_most_likely_token():
    """As temperature -> 0 sampling becomes greedy: the argmax of the logits, every time."""
    _, _, model, tok = _train_tiny(seed=3, steps=60)
    cache = model.new_cache()
    token, greedy = tok.bos, []
    for pos in range(model.block_size):
        z = [v.data for v in model(token, pos, cache)]
        token = max(range(len(z)), key=z.__getitem__)
        if token == tok.bos:
            break
        greedy.append(token)
    expected = tok.decode(greedy)
    for seed in range(3):
        assert sample(model, tok, random.Random(seed), 1e-4) == expected


# --- the classic names data set (optional) -------------------------------------

def test_a_few_training_steps_on_the_names_data(names_path):
    """On the 32k names: 26 letters + BOS, and the loss starts near ln 27 and stays finite."""
    docs = microgpt.load_docs(names_path)
    assert len(docs) > 30_000
    tok = Tokenizer(docs)
    assert tok.chars == [chr(c) for c in range(ord('a'), ord('z') + 1)]
    rng = random.Random(42)
    rng.shuffle(docs)
    config = Config(steps=20)
    model = GPT(config, tok.vocab_size, rng)
    losses = [loss for _, loss in train(model, tok, docs, config)]
    assert abs(sum(losses[:5]) / 5 - math.log(27)) < 0.3
    assert all(math.isfinite(x) for x in losses)
