"""Ctrl-C: the first one during training stops it after the step it lands in,
and the run goes on (validation, samples) with the model trained so far; a
second one, or one at any other time, quits with code 130.

No test here waits for a time to pass or races the program. The in-process
tests press Ctrl-C from inside a chosen training step: conftest's
press_ctrl_c_in_steps wraps train() so that it sends this process SIGINT
(os.kill) after the step's work is done and before the step is handed to the
loop. Python runs a signal's handler in the main thread before os.kill's
caller goes on (every supported CPython and PyPy does), so the press lands in
that step and no other.
The one test with a real, outside SIGINT sends it only once training has
visibly begun, to a run of a million steps that cannot end first, and checks
only what holds wherever in training the signal lands.
"""

import gc
import json
import os
import random
import re
import signal
import subprocess
import sys

import pytest

import microgpt
from microgpt import GPT, Tokenizer, read_docs, split_docs, train
from conftest import (SCRIPT, TINY_KNOBS, adam_for, press_ctrl_c_in_steps, progress_lines, run_main,
                      sample_lines, script_env, tiny_config, val_losses, weights)

pytestmark = pytest.mark.skipif(sys.platform == 'win32', reason='sends SIGINT')


WORDS = ['anna', 'bob', 'ada', 'eve', 'otto', 'hannah', 'abba', 'nan', 'elle', 'ava',
         'bab', 'dad', 'ede', 'noon', 'bob', 'anna', 'aha', 'ehe', 'oho', 'naan']


@pytest.fixture
def words(tmp_path):
    path = tmp_path / 'words.txt'
    path.write_text('\n'.join(WORDS) + '\n', encoding='utf-8')
    return path


def model_after(path, seed, steps, stop_after):
    """The weights run() has after stop_after of `steps` steps, worked out here:
    the shuffle, the split and the weights from one generator, then training."""
    rng = random.Random(seed)
    docs = read_docs(path.read_text(encoding='utf-8'))
    rng.shuffle(docs)
    tokenizer = Tokenizer(docs)
    train_docs, _ = split_docs(docs)
    config = tiny_config(steps=steps, seed=seed)
    model = GPT(config, tokenizer.vocab_size, rng)
    for step, _ in train(model, adam_for(model, config), tokenizer, train_docs, config):
        if step == stop_after:
            break
    return weights(model)


@pytest.mark.parametrize('stop_at', [1, 4, 9])
def test_ctrl_c_stops_training_after_the_step_it_lands_in_and_goes_on(
        words, tmp_path, monkeypatch, capsys, python_ctrl_c, stop_at):
    press_ctrl_c_in_steps(monkeypatch, {stop_at: 1})
    saved = tmp_path / 'model.json'
    code, out, err = run_main(capsys, '--input', words, '--steps', 10, '--samples', 3,
                              '--val-docs', 2, '--seed', 5, '--save', saved, *TINY_KNOBS)
    assert (code, err) == (0, '')
    lines = out.splitlines()
    assert f'stopped by Ctrl-C after step {stop_at} of 10; going on with the model trained so far' \
        in lines
    assert [step for step, _, _ in progress_lines(out)] == list(range(1, stop_at + 1))
    assert re.search(f'^trained [\\d,]+ parameters for {stop_at} steps? in ', out, re.M)
    assert re.search(f'^loss curve, {stop_at} steps? ', out, re.M)
    assert [when for _, when, _ in val_losses(out)] == ['before', 'after']
    assert len(sample_lines(out)) + out.count('(empty: ') == 3
    # The model that goes on is exactly the one after that step of the planned 10.
    state = json.loads(saved.read_text(encoding='utf-8'))
    assert state['steps_done'] == stop_at
    flat = [x for name in state['weights'] for row in state['weights'][name] for x in row]
    assert flat == model_after(words, seed=5, steps=10, stop_after=stop_at)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_in_the_last_step_just_finishes(words, monkeypatch, capsys, python_ctrl_c):
    press_ctrl_c_in_steps(monkeypatch, {6: 1})
    code, out, err = run_main(capsys, '--input', words, '--steps', 6, '--samples', 2, *TINY_KNOBS)
    assert (code, err) == (0, '')
    assert 'stopped by Ctrl-C' not in out
    assert re.search('^trained [\\d,]+ parameters for 6 steps in ', out, re.M)
    assert [when for _, when, _ in val_losses(out)] == ['before', 'after']


@pytest.mark.parametrize('step', [1, 3])
def test_a_second_ctrl_c_in_the_same_step_quits_with_code_130(words, monkeypatch, capsys,
                                                              python_ctrl_c, step):
    """It does not wait for the step to end: the step is never reported, and
    nothing after training runs."""
    press_ctrl_c_in_steps(monkeypatch, {step: 2})
    code, out, err = run_main(capsys, '--input', words, '--steps', 10, '--samples', 3, *TINY_KNOBS)
    assert code == 130
    assert err == '\ninterrupted\n'
    assert [s for s, _, _ in progress_lines(out)] == list(range(1, step))
    assert 'stopped by Ctrl-C' not in out and 'trained ' not in out
    assert [when for _, when, _ in val_losses(out)] == ['before']
    assert sample_lines(out) == [] and '--- ' not in out
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert gc.isenabled()


def test_ctrl_c_after_training_quits_at_once(words, monkeypatch, capsys, python_ctrl_c):
    """Once training is over, Ctrl-C is Python's again: one press while
    sampling quits, with code 130 and one word, no traceback."""
    real_sample = microgpt.sample
    drawn = []

    def pressing_sample(*args, **kwargs):
        drawn.append(real_sample(*args, **kwargs))
        if len(drawn) == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return drawn[-1]
    monkeypatch.setattr(microgpt, 'sample', pressing_sample)
    code, out, err = run_main(capsys, '--input', words, '--steps', 3, '--samples', 5, *TINY_KNOBS)
    assert code == 130
    assert err == '\ninterrupted\n'
    assert len(drawn) == 2
    assert len(sample_lines(out)) + out.count('(empty: ') == 1   # the second was never printed
    assert 'new, not in the training data' not in out


def test_a_real_ctrl_c_from_outside_stops_training_and_the_run_goes_on(tmp_path):
    """SIGINT sent to the program once it shows training progress on a terminal.
    Training has a million steps, so the signal lands in training wherever the
    scheduler puts it; whatever step k it lands in, the run says it stopped
    there and goes on to validate and sample."""
    import pty
    path = tmp_path / 'words.txt'
    path.write_text('\n'.join(WORDS) + '\n', encoding='utf-8')
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, '-B', str(SCRIPT), '--input', str(path), '--steps', '1000000',
         '--val-docs', '2', '--samples', '2', *TINY_KNOBS],
        stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE, env=script_env(),
        # as from a shell: Python's own Ctrl-C handling, even if this runner ignores SIGINT
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    os.close(slave)
    seen = b''
    try:
        while b'ms/step' not in seen:   # a progress line: training has begun
            chunk = read_chunk(master)
            assert chunk, f'the run ended before training:\n{seen.decode()}{proc.stderr.read()}'
            seen += chunk
        proc.send_signal(signal.SIGINT)
        while True:
            chunk = read_chunk(master)
            if not chunk:
                break
            seen += chunk
        code = proc.wait(timeout=600)
        err = proc.stderr.read().decode('utf-8')
    finally:
        os.close(master)
        proc.kill()
        proc.wait()
        proc.stderr.close()
    out = seen.decode('utf-8').replace('\r\n', '\n')
    assert code == 0, err
    assert err == ''
    stop = re.search(r'^stopped by Ctrl-C after step (\d+) of 1000000; '
                     r'going on with the model trained so far$', out, re.M)
    assert stop, out
    k = int(stop.group(1))
    last_update = out.split('\n' + stop.group(0))[0].split('\r')[-1]
    assert last_update.startswith(f'step {k:7d} / 1000000 | ')
    assert re.search(f'^trained [\\d,]+ parameters for {k:,} steps? in ', out, re.M)
    assert [when for _, when, _ in val_losses(out)] == ['before', 'after']
    assert len(sample_lines(out)) + out.count('(empty: ') == 2


def read_chunk(master):
    try:
        return os.read(master, 65536)
    except OSError:   # Linux reports the end of a pseudo-terminal as an error
        return b''
