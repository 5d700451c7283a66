"""What a run shows a learner: what it will do with the data, the held-out
tenth and its validation loss, --prefix, samples marked new, seen or empty,
the loss curve, and progress."""

import math
import os
import random
import re
import subprocess
import sys

import pytest

import microgpt
from microgpt import (BARS, document_loss, loss_curve, progress_line, read_docs, sample,
                      split_docs, train, validation_loss)
from conftest import (EMPTY_SAMPLE, PROGRESS, SCRIPT, TINY_KNOBS, TINY_WORDS, adam_for,
                      assert_clean_success, make_model, progress_lines, run_main, run_script,
                      sample_lines, script_env, tagged_samples, val_losses, weights, write_bytes)


def shuffled_split(path, seed):
    """The split a run makes, worked out from what it promises: shuffle with
    Random(seed), then hold out the last tenth."""
    docs = read_docs(open(path, encoding='utf-8').read())
    random.Random(seed).shuffle(docs)
    n_train = len(docs) - len(docs) // 10
    return docs[:n_train], docs[n_train:]


# --- the held-out tenth ------------------------------------------------------------

@pytest.mark.parametrize('n', [1, 9, 10, 11, 19, 20, 99, 100, 32_032])
def test_split_holds_out_the_last_tenth_and_none_below_ten(n):
    docs = [f'doc{i}' for i in range(n)]
    train_docs, held_out = split_docs(docs)
    assert train_docs + held_out == docs   # in order: the last documents are held out
    assert len(held_out) == n // 10
    assert (held_out == []) == (n < 10)


def test_a_run_trains_on_nine_tenths_and_validates_on_the_rest(tmp_path, monkeypatch, capsys):
    """run() trains on the first nine tenths of the shuffled documents, and
    measures the validation loss twice on the first --val-docs of the rest."""
    words = [a + b + c for a in 'abcde' for b in 'aeiou' for c in 'nst'][:47]
    path = write_bytes(tmp_path, 'words.txt', '\n'.join(words) + '\n')
    trained_on, validated_on = [], []
    real_train, real_validation_loss = microgpt.train, microgpt.validation_loss

    def spy_train(model, optimizer, tokenizer, docs, config, first_step=0):
        trained_on.append([docs[j % len(docs)] for j in range(first_step, config.steps)])
        return real_train(model, optimizer, tokenizer, docs, config, first_step)

    def spy_validation_loss(model, tokenizer, docs):
        validated_on.append(list(docs))
        return real_validation_loss(model, tokenizer, docs)

    monkeypatch.setattr(microgpt, 'train', spy_train)
    monkeypatch.setattr(microgpt, 'validation_loss', spy_validation_loss)
    code, out, err = run_main(capsys, '--input', path, '--steps', 3, '--samples', 0,
                              '--val-docs', 2, '--seed', 7, *TINY_KNOBS)
    assert (code, err) == (0, '')
    expected_train, expected_held_out = shuffled_split(path, seed=7)
    assert len(expected_train) == 43 and len(expected_held_out) == 4
    assert trained_on == [expected_train[:3]]
    assert validated_on == [expected_held_out[:2]] * 2
    assert out.splitlines()[0] == f'47 documents in {path}: 43 to train on, 4 held out for validation'


def test_training_never_reads_a_held_out_document():
    """A letter found only in the held-out document never enters the model as
    input, however many times training goes round: its embedding row gets no
    gradient, so Adam leaves it exactly as it was."""
    docs = ['ab', 'ba', 'abba', 'bab', 'aab', 'bba', 'ab', 'baa', 'abb', 'zz']
    train_docs, held_out = split_docs(docs)
    assert held_out == ['zz']
    model, tok, config = make_model(docs, seed=3, steps=25)   # round the 9 nearly three times
    wte = model.state_dict['wte']
    z_before = [p.data for p in wte[tok.ids['z']]]
    a_before = [p.data for p in wte[tok.ids['a']]]
    for _ in train(model, adam_for(model, config), tok, train_docs, config):
        pass
    assert [p.data for p in wte[tok.ids['z']]] == z_before
    assert [p.data for p in wte[tok.ids['a']]] != a_before


# --- what the run will do with the data -----------------------------------------

SUMMARY_WORDS = TINY_WORDS + ['anna', 'anna', 'bebe', 'abracadabrab', 'bananabanana']


def opening_lines(out):
    """The lines before the token count: what the run says about the data."""
    lines = out.splitlines()
    return lines[:next(i for i, line in enumerate(lines) if ' tokens (' in line)]


@pytest.mark.parametrize('args, read_line', [
    (['--steps', 5], '5 steps of 1 document will read 5 of the 32 training documents (15.6%)'),
    (['--steps', 20, '--batch-size', 4],
     '20 steps of 4 documents will read 32 of the 32 training documents (100.0%)'),
    (['--steps', 3, '--batch-size', 2],
     '3 steps of 2 documents will read 6 of the 32 training documents (18.8%)'),
    (['--steps', 0], None),
], ids=['a few steps', 'more than all', 'in batches', 'no steps'])
def test_the_run_says_what_it_will_do_with_the_data(tmp_path, capsys, args, read_line):
    """Before training: the documents and the split, how many lines repeat an
    earlier one, how many are longer than the context (naming the knob), and
    how much of the training data the steps will read."""
    path = write_bytes(tmp_path, 'w.txt', '\n'.join(SUMMARY_WORDS) + '\n')
    code, out, err = run_main(capsys, '--input', path, '--samples', 0, *TINY_KNOBS, *args)
    assert (code, err) == (0, '')
    expected = [
        f'35 documents in {path}: 32 to train on, 3 held out for validation',
        '3 lines repeat an earlier one',
        '2 documents longer than the context (--block-size 8) will be cut to their first 8 characters',
    ]
    if read_line:
        expected.append(read_line)
    assert opening_lines(out) == expected


def test_the_knob_named_for_long_documents_is_the_context_in_force(tmp_path, capsys):
    """With --block-size 12, 'abracadabrab' (12) fits and only longer lines are counted."""
    path = write_bytes(tmp_path, 'w.txt', '\n'.join(SUMMARY_WORDS + ['abracadabrabra']) + '\n')
    code, out, err = run_main(capsys, '--input', path, '--steps', 1, '--samples', 0,
                              '--n-embd', 8, '--n-head', 2, '--block-size', 12)
    assert code == 0, err
    assert ('1 document longer than the context (--block-size 12) will be cut to '
            'its first 12 characters') in opening_lines(out)
    clean = write_bytes(tmp_path, 'clean.txt', '\n'.join(TINY_WORDS) + '\n')
    code, out, err = run_main(capsys, '--input', clean, '--steps', 1, '--samples', 0, *TINY_KNOBS)
    assert code == 0, err
    assert not any('repeat' in line or 'longer than' in line for line in opening_lines(out))


def test_the_share_the_steps_will_read_is_what_training_reads(tmp_path, monkeypatch, capsys):
    """The documents train() is given at the indices its steps read are there;
    the count of them is the one the run printed."""
    path = write_bytes(tmp_path, 'w.txt', '\n'.join(SUMMARY_WORDS) + '\n')
    real_train = microgpt.train
    read = []

    def spy_train(model, optimizer, tokenizer, docs, config, first_step=0):
        batch = config.batch_size
        indices = {j % len(docs) for j in range(first_step * batch, config.steps * batch)}
        read.append([docs[i] for i in sorted(indices)])
        return real_train(model, optimizer, tokenizer, docs, config, first_step)

    monkeypatch.setattr(microgpt, 'train', spy_train)
    code, out, err = run_main(capsys, '--input', path, '--samples', 0, '--steps', 7,
                              '--batch-size', 3, '--seed', 4, *TINY_KNOBS)
    assert (code, err) == (0, '')
    train_docs, _ = shuffled_split(path, seed=4)
    assert read == [train_docs[:21]]
    assert '7 steps of 3 documents will read 21 of the 32 training documents (65.6%)' in out


# --- the validation loss -------------------------------------------------------

def test_validation_loss_is_the_mean_loss_per_predicted_token():
    """Worked out here from the logits: -log softmax(z)[next], summed over every
    prediction of every document, over their count."""
    docs = ['a', 'abcab', 'bcabcabcabcabcabcab']   # 2, 6 and (cut to block_size 8) 8 predictions
    model, tok, config = make_model(docs, seed=5)
    total, count = 0.0, 0
    for doc in docs:
        tokens = tok.encode(doc[:config.block_size])
        cache = model.new_cache(graph=True)
        for pos in range(min(config.block_size, len(tokens) - 1)):
            z = [v.data for v in model(tokens[pos], pos, cache)]
            top = max(z)
            log_total = math.log(sum(math.exp(x - top) for x in z))
            total -= z[tokens[pos + 1]] - top - log_total
            count += 1
    assert count == 2 + 6 + 8
    assert validation_loss(model, tok, docs) == pytest.approx(total / count, rel=1e-12)
    # The weighting matters: the mean of the three documents' means differs.
    mean_of_means = sum(document_loss(model, tok.encode(d[:8])).data for d in docs) / 3
    assert abs(mean_of_means - total / count) > 1e-3


def test_validation_changes_nothing():
    """Measuring the validation loss leaves every weight and gradient as it was,
    and draws no random numbers: the samples after it are the ones without it."""
    model, tok, _ = make_model(TINY_WORDS, seed=8)
    before_weights = weights(model)
    before = [sample(model, tok, random.Random(1), 1.0) for _ in range(5)]
    validation_loss(model, tok, TINY_WORDS)
    assert weights(model) == before_weights
    assert all(p.grad == 0.0 for p in model.params)
    assert [sample(model, tok, random.Random(1), 1.0) for _ in range(5)] == before


def test_a_run_prints_the_validation_loss_before_and_after_training():
    """On input.txt the untrained model scores about ln(27), guessing uniformly;
    300 steps bring the held-out loss well down."""
    result = run_script('--steps', 300, '--samples', 0)
    assert_clean_success(result)
    (before, when_before, n_before), (after, when_after, n_after) = val_losses(result.stdout)
    assert (when_before, when_after) == ('before', 'after')
    assert n_before == n_after == 200
    assert abs(before - math.log(27)) < 0.3
    assert after < before - 0.5
    lines = result.stdout.splitlines()
    assert lines.index(next(l for l in lines if l.startswith('val loss'))) < \
        lines.index(next(l for l in lines if l.startswith('step')))


@pytest.mark.parametrize('words, args, message, documents', [
    (TINY_WORDS, ['--val-docs', '2'], None, 2),
    (TINY_WORDS, ['--val-docs', '500'], None, 3),   # only 3 of the 30 are held out
    (TINY_WORDS, ['--val-docs', '0'], 'no validation loss (--val-docs 0)', None),
    (TINY_WORDS[:9], [], 'no validation loss: with fewer than 10 documents, none are held out',
     None),
], ids=['two of three', 'more than there are', 'none asked for', 'fewer than ten'])
def test_how_many_documents_the_validation_loss_uses(tmp_path, capsys, words, args, message,
                                                     documents):
    path = write_bytes(tmp_path, 'w.txt', '\n'.join(words) + '\n')
    code, out, err = run_main(capsys, '--input', path, '--steps', 3, '--samples', 0,
                              *TINY_KNOBS, *args)
    assert (code, err) == (0, '')
    found = val_losses(out)
    if documents is None:
        assert found == []
        assert message in out.splitlines()
    else:
        assert [(when, n) for _, when, n in found] == [('before', documents), ('after', documents)]


def test_no_steps_trains_nothing_and_still_samples(tiny_input, capsys):
    code, out, err = run_main(capsys, '--input', tiny_input, '--steps', 0, '--samples', 3,
                              *TINY_KNOBS)
    assert (code, err) == (0, '')
    assert progress_lines(out) == []
    assert 'loss curve' not in out and 'trained ' not in out and ' will read ' not in out
    assert [(when, n) for _, when, n in val_losses(out)] == [('no', 3)]   # once: nothing changed
    assert len(sample_lines(out)) + len(re.findall(EMPTY_SAMPLE.pattern, out, re.M)) == 3


# --- --prefix -------------------------------------------------------------------

def test_every_sample_starts_with_the_prefix():
    model, tok, config = make_model(TINY_WORDS, seed=2)
    rng = random.Random(0)
    samples = [sample(model, tok, rng, 1.5, prefix='be') for _ in range(30)]
    assert all(s.startswith('be') for s in samples)
    assert len(set(samples)) > 3                        # the rest is drawn, not fixed
    assert all(len(s) <= config.block_size for s in samples)


def test_an_empty_prefix_is_no_prefix():
    model, tok, _ = make_model(TINY_WORDS, seed=2)
    plain = [sample(model, tok, random.Random(4), 1.0) for _ in range(10)]
    assert [sample(model, tok, random.Random(4), 1.0, prefix='') for _ in range(10)] == plain


def test_the_prefix_is_read_by_the_model_before_it_writes():
    """Near temperature 0 the continuation is the greedy one after BOS and the
    prefix have been fed in, position by position."""
    model, tok, config = make_model(TINY_WORDS, seed=6, steps=60)
    for _ in train(model, adam_for(model, config), tok, TINY_WORDS, config):
        pass
    cache = model.new_cache(graph=True)
    for pos, token in enumerate([tok.bos, tok.ids['d'], tok.ids['e']]):
        z = [v.data for v in model(token, pos, cache)]
    greedy = []
    for pos in range(3, config.block_size + 1):
        token = max(range(len(z)), key=z.__getitem__)
        if token == tok.bos:
            break
        greedy.append(token)
        if pos < config.block_size:
            z = [v.data for v in model(token, pos, cache)]
    expected = 'de' + tok.decode(greedy)
    for seed in range(3):
        assert sample(model, tok, random.Random(seed), 1e-4, prefix='de') == expected


def test_the_longest_prefix_leaves_room_for_one_token():
    model, tok, config = make_model(TINY_WORDS, seed=2, block_size=5)
    samples = [sample(model, tok, random.Random(s), 2.0, prefix='bean') for s in range(20)]
    assert all(s.startswith('bean') and len(s) <= 5 for s in samples)
    assert 'bean' in samples and any(len(s) == 5 for s in samples)


def test_prefix_on_the_command_line(tiny_input):
    result = run_script('--input', tiny_input, '--steps', 30, '--samples', 8, '--prefix', 'be',
                        *TINY_KNOBS)
    assert_clean_success(result)
    assert "--- 8 samples (temperature 0.5, prefix 'be') ---" in result.stdout.splitlines()
    texts = [text for _, text in sample_lines(result.stdout)]
    assert len(texts) == 8 and all(t.startswith('be') for t in texts)
    longest = run_script('--input', tiny_input, '--steps', 3, '--samples', 3,
                         '--prefix', 'bean', '--block-size', 5, '--n-embd', 8, '--n-head', 2)
    assert_clean_success(longest)
    assert all(t.startswith('bean') for _, t in sample_lines(longest.stdout))


# --- new, seen or empty ----------------------------------------------------------

def test_each_sample_says_whether_it_is_in_the_training_data(tiny_input):
    """The mark agrees with the training nine tenths, worked out independently."""
    result = run_script('--input', tiny_input, '--steps', 300, '--samples', 40,
                        '--seed', 3, *TINY_KNOBS)
    assert_clean_success(result)
    train_docs, _ = shuffled_split(tiny_input, seed=3)
    tagged = tagged_samples(result.stdout)
    assert len(tagged) == 40
    for text, tag in tagged:
        assert tag == ('in the training data' if text in train_docs else 'new'), text
    tags = [tag for _, tag in tagged]
    assert 'new' in tags and 'in the training data' in tags   # both kinds were checked
    assert f'new, not in the training data: {tags.count("new")} of 40 samples' \
        in result.stdout.splitlines()


def tags_of_xy_samples(tmp_path, copies_of_ab, steps, xy_lands):
    """(text, tag) of 40 samples from a file of 'ab' lines and one 'xy' line.

    Every sample starts with --prefix xy, and a context of 3 leaves room for
    one more character, so a sample that ends right after the prefix is
    exactly 'xy'. The seed is the first whose shuffle puts 'xy' where
    xy_lands(training documents, held-out documents) asks.
    """
    path = write_bytes(tmp_path, 'd.txt', 'ab\n' * copies_of_ab + 'xy\n')
    seed = next(s for s in range(100) if xy_lands(*shuffled_split(path, s)))
    result = run_script('--input', path, '--seed', seed, '--steps', steps, '--samples', 40,
                        '--prefix', 'xy', '--block-size', 3, '--n-embd', 8, '--n-head', 2,
                        '--temperature', 2)
    assert_clean_success(result)
    return tagged_samples(result.stdout)


def test_a_training_document_the_run_never_reached_still_counts_as_seen(tmp_path):
    """Twenty documents, 18 of them training ones, and a run of 2 steps: 'xy' is
    a training document the run does not get to. A sample that is exactly 'xy'
    is still marked as in the training data."""
    tagged = tags_of_xy_samples(tmp_path, 19, steps=2,
                                xy_lands=lambda train, held_out: 'xy' in train[2:])
    assert ('xy', 'in the training data') in tagged
    assert ('xy', 'new') not in tagged
    # Longer samples start with 'xy' and so cannot be 'ab': new, whole lines only.
    assert all(tag == 'new' for text, tag in tagged if text != 'xy')


def test_a_sample_cut_off_by_the_context_counts_as_seen_if_a_document_starts_with_it(tmp_path):
    """Every document is 'abcdefghij', longer than a context of 8, so training
    shows the model 'abcdefgh' and never an end. A sample cut off at 8
    characters that is 'abcdefgh' is in the training data; any other is new,
    and so is 'abcdefg', ended by the model (no document is just that)."""
    path = write_bytes(tmp_path, 'long.txt', 'abcdefghij\n' * 12)
    result = run_script('--input', path, '--steps', 30, '--samples', 40, '--prefix', 'abcdefg',
                        '--temperature', 2, *TINY_KNOBS)
    assert_clean_success(result)
    tagged = tagged_samples(result.stdout)
    assert ('abcdefgh', 'in the training data') in tagged
    for text, tag in tagged:
        assert tag == ('in the training data' if text == 'abcdefgh' else 'new'), text
    assert any(tag == 'new' for _, tag in tagged)


def test_a_name_found_only_among_the_held_out_documents_counts_as_new(tmp_path):
    """Ten documents, 'xy' the one held out: a sample that is exactly 'xy' is new."""
    tagged = tags_of_xy_samples(tmp_path, 9, steps=20,
                                xy_lands=lambda train, held_out: held_out == ['xy'])
    assert ('xy', 'new') in tagged
    assert all(tag == 'new' for _, tag in tagged)


def model_that_ends_at_once(bos_logit):
    """A GPT class whose logit for BOS, at the first position, is bos_logit
    (times about 2.8, the size rmsnorm gives a one-hot vector of 8) and every
    other logit 0 there.

    Its attention and MLP add nothing (their output matrices are 0), so the
    last vector is rmsnorm(wte[token] + wpe[position]): at position 0, reading
    BOS, a one-hot vector, which lm_head's BOS row alone picks up.
    """
    class EndsAtOnce(microgpt.GPT):
        def __init__(self, config, vocab_size, rng):
            super().__init__(config, vocab_size, rng)
            sd = self.state_dict
            zero = [f'layer{i}.{m}' for i in range(config.n_layer) for m in ('attn_wo', 'mlp_fc2')]
            for name in zero + ['lm_head']:
                for row in sd[name]:
                    for p in row:
                        p.data = 0.0
            bos = vocab_size - 1
            for p in sd['wpe'][0]:
                p.data = 0.0
            for j, p in enumerate(sd['wte'][bos]):
                p.data = 1.0 if j == 0 else 0.0
            sd['lm_head'][bos][0].data = bos_logit
    return EndsAtOnce


def empty_lines(out):
    return [int(m.group(1)) for m in map(EMPTY_SAMPLE.match, out.splitlines()) if m]


def test_a_sample_the_model_ends_at_once_is_shown_as_empty_not_new(tiny_input, monkeypatch,
                                                                   capsys):
    """BOS so likely first that every other token's probability is exactly 0:
    each sample is empty, says so, and none counts as new. (No validation: a
    letter of probability 0 has a loss of infinity.)"""
    monkeypatch.setattr(microgpt, 'GPT', model_that_ends_at_once(1000.0))
    code, out, err = run_main(capsys, '--input', tiny_input, '--steps', 0, '--samples', 4,
                              '--val-docs', 0, *TINY_KNOBS)
    assert (code, err) == (0, '')
    assert empty_lines(out) == [1, 2, 3, 4]
    assert sample_lines(out) == []
    assert out.splitlines()[-1] == 'new, not in the training data: 0 of 4 samples (4 empty)'


def test_empty_samples_among_others_are_counted_apart(tiny_input, monkeypatch, capsys):
    """BOS about as likely first as all the letters together: some samples are
    empty, the others new or seen, and the summary counts only those as new."""
    # 2.83 x 0.57 is about ln 5: even odds at temperature 1 between BOS and
    # the 5 letters, each of logit 0.
    monkeypatch.setattr(microgpt, 'GPT', model_that_ends_at_once(0.57))
    code, out, err = run_main(capsys, '--input', tiny_input, '--steps', 0, '--samples', 12,
                              '--temperature', 1, '--seed', 1, *TINY_KNOBS)
    assert (code, err) == (0, '')
    empty = empty_lines(out)
    tagged = tagged_samples(out)
    assert 0 < len(empty) < 12 and len(empty) + len(tagged) == 12
    assert all(text for text, _ in tagged)
    new = sum(tag == 'new' for _, tag in tagged)
    assert out.splitlines()[-1] == \
        f'new, not in the training data: {new} of 12 samples ({len(empty)} empty)'


def test_counts_of_one_are_singular(tmp_path, capsys):
    path = write_bytes(tmp_path, 'one.txt', 'anna\n')
    code, out, err = run_main(capsys, '--input', path, '--steps', 1, '--samples', 1, *TINY_KNOBS)
    assert (code, err) == (0, '')
    lines = out.splitlines()
    assert lines[0] == f'1 document in {path}: 1 to train on, 0 held out for validation'
    assert '1 step of 1 document will read 1 of the 1 training documents (100.0%)' in lines
    assert any(line.startswith('3 tokens (2 characters + BOS), ') for line in lines)
    assert ' for 1 step in ' in out
    assert '--- 1 sample (temperature 0.5) ---' in lines
    assert lines[-1] in ('new, not in the training data: 0 of 1 sample',
                         'new, not in the training data: 1 of 1 sample',
                         'new, not in the training data: 0 of 1 sample (1 empty)')
    one_held_out = write_bytes(tmp_path, 'ten.txt', '\n'.join(TINY_WORDS[:9] + ['anna']) + '\n')
    code, out, err = run_main(capsys, '--input', one_held_out, '--steps', 1, '--samples', 0,
                              *TINY_KNOBS)
    assert [(when, n) for _, when, n in val_losses(out)] == [('before', 1), ('after', 1)]
    assert 'on 1 held-out document)' in out
    assert '1 line repeats an earlier one' in out.splitlines()


# --- the loss curve ------------------------------------------------------------------

def curve_parts(text):
    """(caption, first value, bars, last value) of loss_curve's two lines."""
    caption, line = text.split('\n')
    match = re.fullmatch(r'(\d+\.\d\d) ([▁▂▃▄▅▆▇█]+) (\d+\.\d\d)', line)
    assert match, line
    return caption, float(match.group(1)), match.group(2), float(match.group(3))


def test_a_falling_loss_draws_a_falling_curve():
    losses = [3.0 - 2.0 * i / 999 for i in range(1000)]
    caption, first, bars, last = curve_parts(loss_curve(losses))
    assert caption == 'loss curve, 1,000 steps (each bar: the mean loss of the 100 steps up to it)'
    assert len(bars) == 50
    assert bars[0] == BARS[-1] and bars[-1] == BARS[0]
    assert all(BARS.index(a) >= BARS.index(b) for a, b in zip(bars, bars[1:]))
    assert first == round(sum(losses[:20]) / 20, 2)    # the first bar: steps 1 to 20
    assert last == round(sum(losses[-100:]) / 100, 2)  # the last: the last 100 steps


def test_the_curve_smooths_away_step_to_step_noise():
    """Losses that jump between 1 and 3 at every step average 2 over any even
    stretch, so the curve is flat."""
    caption, first, bars, last = curve_parts(loss_curve([1.0, 3.0] * 500))
    assert bars == BARS[0] * 50
    assert first == last == 2.0


def test_a_curve_flatter_than_its_printed_precision_is_drawn_flat():
    """A model that learns nothing (all weights 0, say) still has losses that
    differ in their last bits; stretched to full height they would draw a wild
    curve. A range of 0.02, twice the printed precision, is drawn in full."""
    noise = [math.log(27) + 1e-12 * (i % 3) for i in range(40)]
    caption, first, bars, last = curve_parts(loss_curve(noise))
    assert bars == BARS[0] * 40 and first == last == 3.30
    _, _, bars, _ = curve_parts(loss_curve([2.02 - 0.02 * i / 39 for i in range(40)]))
    assert bars[0] == BARS[-1] and bars[-1] == BARS[0]


def test_a_short_run_gets_a_bar_per_step():
    losses = [2.0, 3.0, 1.0, 2.5, 1.5, 3.0, 1.0]
    caption, first, bars, last = curve_parts(loss_curve(losses))
    assert caption == 'loss curve, 7 steps (a bar per step)'
    assert len(bars) == 7
    assert [BARS.index(b) for b in bars] == [round(7 * (x - 1.0) / 2.0) for x in losses]
    assert (first, last) == (2.0, 1.0)
    caption, *rest = curve_parts(loss_curve([2.5]))
    assert caption == 'loss curve, 1 step (a bar per step)'
    assert rest == [2.5, BARS[0], 2.5]


def test_a_run_ends_training_with_the_curve(tiny_input, capsys):
    code, out, err = run_main(capsys, '--input', tiny_input, '--steps', 120, '--samples', 0,
                              *TINY_KNOBS)
    assert (code, err) == (0, '')
    lines = out.splitlines()
    at = lines.index('loss curve, 120 steps (each bar: the mean loss of the 12 steps up to it)')
    assert lines[at - 1].startswith('trained ')
    _, first, bars, last = curve_parts('\n'.join(lines[at:at + 2]))
    assert len(bars) == 50 and last < first


# --- progress ---------------------------------------------------------------------

def test_progress_line_shows_the_time_per_step_and_the_time_left():
    assert progress_line(250, 1000, 2.34567, 10.0, 250) == \
        'step  250 / 1000 | loss 2.3457 | 40.0 ms/step | 0:30 left'
    assert progress_line(1, 100, 3.3, 90.0, 1) == \
        'step   1 / 100 | loss 3.3000 | 90000.0 ms/step | 148:30 left'
    assert progress_line(100, 100, 1.0, 0.5, 100).endswith('| 5.0 ms/step | 0:00 left')
    # Resumed at step 500: the 100 steps this run took are what the clock goes by.
    assert progress_line(600, 1000, 1.0, 10.0, 100).endswith('| 100.0 ms/step | 0:40 left')


@pytest.mark.parametrize('steps, expected', [
    (100, list(range(5, 101, 5))),
    (45, [3, 5, 7, 9, 12, 14, 16, 18, 21, 23, 25, 27, 30, 32, 34, 36, 39, 41, 43, 45]),
    (7, [1, 2, 3, 4, 5, 6, 7]),
])
def test_into_a_pipe_a_line_every_twentieth_of_the_run(tiny_input, capsys, steps, expected):
    code, out, err = run_main(capsys, '--input', tiny_input, '--steps', steps, '--samples', 0,
                              *TINY_KNOBS)
    assert (code, err) == (0, '')
    assert [step for step, _, _ in progress_lines(out)] == expected
    assert '\r' not in out


def test_the_summary_counts_parameters_steps_and_time(tiny_input, capsys):
    code, out, err = run_main(capsys, '--input', tiny_input, '--steps', 40, '--samples', 0,
                              *TINY_KNOBS)
    assert (code, err) == (0, '')
    parameters = re.search(r'^\d+ tokens .*, ([\d,]+) parameters$', out, re.M).group(1)
    summary = re.search(r'^trained ([\d,]+) parameters for (\d+) steps in (\d+\.\d) s '
                        r'\((\d+\.\d) ms per step\)$', out, re.M)
    assert summary, out
    assert summary.group(1) == parameters and summary.group(2) == '40'
    # Both figures come from one measured time: they agree, to their rounding.
    seconds, ms = float(summary.group(3)), float(summary.group(4))
    assert abs(ms * 40 / 1000 - seconds) <= 0.05 + 0.05 * 40 / 1000


@pytest.mark.skipif(sys.platform == 'win32', reason='needs a Unix pseudo-terminal')
def test_on_a_terminal_progress_is_one_line_rewritten_in_place(tiny_input):
    import pty
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, '-B', str(SCRIPT), '--input', str(tiny_input),
                             '--steps', '30', '--samples', '2', *TINY_KNOBS],
                            stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE,
                            env=script_env())
    os.close(slave)
    out = read_pty(master)
    assert proc.wait(timeout=600) == 0, proc.stderr.read()
    proc.stderr.close()
    progress = [line for line in out.split('\n') if 'ms/step' in line]
    assert len(progress) == 1, out
    updates = progress[0].split('\r')
    assert updates[0] == ''
    steps = []
    for update in updates[1:]:
        match = PROGRESS.match(update.rstrip(' '))
        assert match, update
        steps.append(int(match.group(1)))
    assert steps == list(range(1, 31))
    assert len(sample_lines(out)) + len(empty_lines(out)) == 2


def read_pty(master):
    """All the program wrote to the pseudo-terminal, with the terminal's \\r\\n
    for \\n undone."""
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:   # Linux reports the end of a pseudo-terminal as an error
            data = b''
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return b''.join(chunks).decode('utf-8').replace('\r\n', '\n')
