"""The page: microgpt.py as a web page, its prose between its code, checked in a browser.

The page is made by two well-kept tools joined by a pipe, run from the
repository root (`pip install '.[page]'` brings both):

    python -m jupytext --to ipynb --update-metadata '{"title": "microgpt.py", "language_info": {"name": "python", "pygments_lexer": "python3"}}' --output - microgpt.py | python -m nbconvert --stdin --to html --no-prompt --TemplateExporter.extra_template_basedirs=tests --template page_template --output-dir page --output microgpt

jupytext reads the script in its "light" format: a comment block at the left
margin, set apart from the code below it by a blank line, becomes a Markdown
cell; everything else (code, docstrings, comments inside the code) stays a
code cell, exactly as written. nbconvert turns those cells into one static
HTML page, page/microgpt.html: the prose as formatted text, the code
highlighted. (The metadata gives the page its title and tells the
highlighter the code is plain Python.)

The template, tests/page_template, is nbconvert's own "lab" template
extended in nbconvert's documented way (a folder with conf.json and
index.html.j2, found through extra_template_basedirs): it leaves out the
scripts lab loads from a CDN (require.js, MathJax, Mermaid), so the page
works offline and a $ in a comment stays a $, and adds a few CSS rules, so
that on a phone a line of code scrolls instead of being cut off.

What is checked, on the built file and again on the DOM a real Chromium
renders from it:

- every section of microgpt.py is a heading of the page. A section starts
  with a rule of dashes (or of '=') on a comment line, and the comment line
  right after the rule is its title;
- every line of code is in the code cells, in the order of the file;
- the page changes no character: every --flag is there as often as in the
  file, and no dash or quote was made "typographic" on the way;
- the page loads nothing from the network (no script, style sheet or image
  from elsewhere);
- in Chromium at a phone's width, every block of code or of preformatted
  prose that is wider than the screen scrolls sideways, and the page itself
  does not.

The tests skip, saying why, where jupytext and nbconvert or Chromium are not
installed.
"""

import collections
import html.parser
import importlib.util
import io
import json
import re
import shlex
import shutil
import subprocess
import sys
import tokenize

import pytest

from conftest import REPO, SCRIPT

# --- the command --------------------------------------------------------------

METADATA = ('{"title": "microgpt.py", '
            '"language_info": {"name": "python", "pygments_lexer": "python3"}}')


TEMPLATE = REPO / 'tests' / 'page_template'   # nbconvert's "lab", extended


def page_command(out_dir):
    """The two halves of the module docstring's pipe (with this interpreter as `python`),
    writing into out_dir."""
    to_notebook = [sys.executable, '-m', 'jupytext', '--to', 'ipynb',
                   '--update-metadata', METADATA, '--output', '-', SCRIPT.name]
    to_html = [sys.executable, '-m', 'nbconvert', '--stdin', '--to', 'html', '--no-prompt',
               f'--TemplateExporter.extra_template_basedirs={TEMPLATE.parent.name}',
               '--template', TEMPLATE.name,
               '--output-dir', str(out_dir), '--output', 'microgpt']
    return to_notebook, to_html


def documented_command():
    """The pipe as this module's docstring gives it, as two argument lists."""
    line = next(line.strip() for line in __doc__.splitlines()
                if line.strip().startswith('python -m jupytext'))
    return [shlex.split(half) for half in line.split(' | ')]


def build_page(out_dir):
    """Run the pipe from the repository root; return the path of the page it wrote."""
    to_notebook, to_html = page_command(out_dir)
    notebook = subprocess.run(to_notebook, cwd=REPO, capture_output=True, timeout=600)
    assert notebook.returncode == 0, notebook.stderr.decode(errors='replace')
    page = subprocess.run(to_html, cwd=REPO, input=notebook.stdout, capture_output=True,
                          timeout=600)
    assert page.returncode == 0, page.stderr.decode(errors='replace')
    path = out_dir / 'microgpt.html'
    assert path.is_file(), f'nbconvert wrote no {path}:\n{page.stderr.decode(errors="replace")}'
    return path


# --- what the source holds ----------------------------------------------------

RULE = re.compile(r'#\s*([-=])\1{2,}\s*$')         # '# -----' or '# =====', alone on its line
COMMENT_TEXT = re.compile(r'#[#\s]*([^#\s].*?)\s*$')  # a comment line with text: its text,
                                                    # less any Markdown heading marks
FLAG = re.compile(r'(?<![\w-])--[A-Za-z][\w-]*')
TYPOGRAPHIC = '\u2013\u2014\u2018\u2019\u201c\u201d\u2026'   # what "smart" punctuation makes


def section_titles(source):
    """The title of every section: the comment line right after a rule line.

    A rule line is a comment at the left margin made only of dashes (or only
    of '='), three or more. A rule followed by a blank line or by code (one
    that closes a section's header) starts nothing. Leading Markdown heading
    marks are not part of the title: '# ## 1. Settings' is titled '1. Settings'.
    """
    lines = source.splitlines()
    titles = []
    for rule, after in zip(lines, lines[1:]):
        if not RULE.match(rule) or RULE.match(after):
            continue
        text = COMMENT_TEXT.match(after)
        if text:
            titles.append(text.group(1).strip('= '))
    return titles


def code_lines(source):
    """(line number, line) for every line that is neither blank nor a comment alone.

    Lines inside strings (docstrings included) are code here, even where one
    starts with '#': tokenize tells a comment from a string.
    """
    comment_only = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT and not token.line[:token.start[1]].strip():
            comment_only.add(token.start[0])
    return [(number, line.rstrip())
            for number, line in enumerate(source.splitlines(), start=1)
            if line.strip() and number not in comment_only]


# --- what the page holds ------------------------------------------------------

HEADINGS = {'h1', 'h2', 'h3', 'h4', 'h5', 'h6'}
VOID = {'area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta',
        'source', 'track', 'wbr'}
CODE_CELL = 'jp-CodeCell'     # nbconvert's class for a code cell
ANCHOR = 'anchor-link'        # nbconvert's class for the pilcrow link in each heading


class Page(html.parser.HTMLParser):
    """The parts of a page the tests read: its headings, its code, its visible text."""

    def __init__(self, markup):
        super().__init__(convert_charrefs=True)
        self.headings = []     # the text of every h1..h6, in order
        self.code = []         # the lines of every <pre> inside a code cell, in order
        self.text = []         # every piece of text outside <head>, <script> and <style>
        self._open = []        # (tag, classes) of the elements we are inside
        self._heading = None   # the heading being read, as a list of pieces
        self._pre = None       # the code block being read, as a list of pieces
        self.feed(markup)
        self.close()

    def _inside(self, test):
        return any(test(tag, classes) for tag, classes in self._open)

    def handle_starttag(self, tag, attrs):
        if tag in VOID:
            return
        classes = (dict(attrs).get('class') or '').split()
        self._open.append((tag, classes))
        if tag in HEADINGS:
            self._heading = []
        elif tag == 'pre' and self._inside(lambda t, c: CODE_CELL in c):
            self._pre = []

    def handle_endtag(self, tag):
        if tag in VOID or not any(t == tag for t, _ in self._open):
            return
        while self._open:   # close whatever was left open inside this element too
            if self._open.pop()[0] == tag:
                break
        if tag in HEADINGS and self._heading is not None:
            self.headings.append(' '.join(''.join(self._heading).split()))
            self._heading = None
        elif tag == 'pre' and self._pre is not None:
            self.code.extend(line.rstrip() for line in ''.join(self._pre).split('\n'))
            self._pre = None

    def handle_data(self, data):
        if self._inside(lambda t, c: t in ('head', 'script', 'style')):
            return
        if self._inside(lambda t, c: ANCHOR in c):
            return   # the pilcrow is the page's own, not the file's
        self.text.append(data)
        if self._heading is not None:
            self._heading.append(data)
        if self._pre is not None:
            self._pre.append(data)


def missing_sections(page, titles):
    """The titles that are not, word for word, a heading of the page."""
    headings = set(page.headings)
    return [title for title in titles if ' '.join(title.split()) not in headings]


def first_missing_code_line(page, lines):
    """The first (line number, line) not found in the code cells in file order, or None."""
    code = iter(page.code)
    for number, line in lines:
        if not any(shown == line for shown in code):
            return number, line
    return None


def section_message(missing):
    return (f'{len(missing)} section(s) of microgpt.py are not headings on the page: '
            f'{missing}. A section becomes a heading when the comment line after its '
            f'rule is a Markdown heading, e.g. "# ## 1. Settings", and no rule follows '
            f'a line of text directly (Markdown reads "text" over "---" as a heading '
            f'of that text).')


# --- the page, built once -----------------------------------------------------

@pytest.fixture(scope='module')
def source():
    return SCRIPT.read_text(encoding='utf-8')


@pytest.fixture(scope='module')
def page_path(tmp_path_factory):
    missing = [name for name in ('jupytext', 'nbconvert') if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f'{" and ".join(missing)} not installed: pip install ".[page]" '
                    f'to build the page')
    return build_page(tmp_path_factory.mktemp('page'))


@pytest.fixture(scope='module')
def page(page_path):
    return Page(page_path.read_text(encoding='utf-8'))


def test_sections_are_found_in_the_source(source):
    """The checks below rest on finding the sections; the file has a few of them."""
    titles = section_titles(source)
    assert len(titles) >= 3, f'found only {titles}: has the section header style changed?'


def test_every_section_is_a_heading(page, source):
    missing = missing_sections(page, section_titles(source))
    assert not missing, section_message(missing)


def test_every_line_of_code_is_in_the_code_cells(page, source):
    lines = code_lines(source)
    assert lines
    missing = first_missing_code_line(page, lines)
    assert missing is None, (f'line {missing[0]} of microgpt.py is not in the code cells '
                             f'(in file order): {missing[1]!r}')


def test_flags_and_punctuation_come_through_unchanged(page, source):
    text = ''.join(page.text)
    flags = collections.Counter(FLAG.findall(source))
    assert flags, 'microgpt.py names no --flag: has the file changed that much?'
    shown = collections.Counter(FLAG.findall(text))
    lost = {flag: (count, shown[flag]) for flag, count in flags.items() if shown[flag] < count}
    assert not lost, f'flags (times in the file, times on the page): {lost}'
    changed = {ch: (source.count(ch), text.count(ch)) for ch in TYPOGRAPHIC
               if text.count(ch) > source.count(ch)}
    assert not changed, f'punctuation made typographic (in the file, on the page): {changed}'


def test_the_command_is_the_documented_one(tmp_path):
    """page_command() runs exactly the pipe the docstring gives a reader to copy."""
    to_notebook, to_html = page_command(tmp_path)
    documented = documented_command()
    ours = [[('python' if arg == sys.executable else 'page' if arg == str(tmp_path) else arg)
             for arg in half] for half in (to_notebook, to_html)]
    assert ours == documented


class Loads(html.parser.HTMLParser):
    """Whatever a page would fetch: the URLs of its scripts, style sheets, images and
    frames, and any URL written inside a script."""

    ATTRS = {'script': 'src', 'link': 'href', 'img': 'src', 'iframe': 'src',
             'source': 'src', 'embed': 'src', 'object': 'data'}

    def __init__(self, markup):
        super().__init__(convert_charrefs=True)
        self.urls = []
        self._in_script = False
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag, attrs):
        url = dict(attrs).get(self.ATTRS.get(tag, ''))
        if url:
            self.urls.append(f'<{tag}> {url}')
        self._in_script = tag == 'script'

    def handle_endtag(self, tag):
        if tag == 'script':
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.urls.extend(f'<script> {url}' for url in re.findall(r'\w+://[^\s"\'`)]+', data))


def test_page_loads_nothing_from_the_network(page_path):
    """The template leaves out require.js, MathJax and Mermaid, which lab loads from a CDN:
    the page reads the same offline, and no $ in a comment is typeset as math."""
    loads = Loads(page_path.read_text(encoding='utf-8'))
    remote = [url for url in loads.urls if re.search(r'\b(https?:)?//', url)]
    assert not remote, f'the page fetches from the network: {remote}'


# --- the page in a real browser -------------------------------------------------

def chromium():
    for name in ('chromium', 'chromium-browser'):
        path = shutil.which(name)
        if path:
            return path
    return None


def browser_command(binary, profile, *args):
    """Chromium, headless, on its own new profile, reaching for nothing on the network.

    The host-resolver rule makes every host name fail to resolve at once, so
    that anything the page might still reach for (it should reach for
    nothing: see test_page_loads_nothing_from_the_network) fails fast instead
    of leaving the page waiting on a network that may be slow or absent.
    """
    return [binary, '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
            '--no-first-run', '--disable-background-networking',
            '--disable-component-update', '--disable-sync', f'--user-data-dir={profile}',
            '--host-resolver-rules=MAP * ~NOTFOUND', *args]


@pytest.fixture(scope='module')
def rendered(page_path, tmp_path_factory):
    """The DOM that Chromium builds from the page, as Chromium writes it out."""
    binary = chromium()
    if binary is None:
        pytest.skip('Chromium is not installed (Debian: apt-get install chromium)')
    profile = tmp_path_factory.mktemp('chromium-profile')
    # The timeout is only a safety net: --dump-dom prints once the page has loaded.
    result = subprocess.run(
        browser_command(binary, profile, '--dump-dom', page_path.as_uri()),
        capture_output=True, timeout=300)
    assert result.returncode == 0, result.stderr.decode(errors='replace')[-3000:]
    dom = result.stdout.decode('utf-8')
    assert '</html>' in dom, dom[-3000:]
    return Page(dom)


def test_browser_renders_every_section_as_a_heading(rendered, source):
    missing = missing_sections(rendered, section_titles(source))
    assert not missing, section_message(missing)


def test_browser_renders_the_code(rendered, source):
    assert any(line.strip() for line in rendered.code), 'the code cells are empty'
    missing = first_missing_code_line(rendered, code_lines(source))
    assert missing is None, f'line {missing[0]} missing from the rendered code: {missing[1]!r}'


# --- the page on a phone ------------------------------------------------------

PHONE = (390, 844)      # CSS pixels: a phone's screen
LAB_PHONE_WIDTH = 760   # up to this width the lab template lays a page out for a phone

# Added to a copy of the page, last in <body>: it runs when the browser has
# read the whole page, measures every preformatted block (code or prose; the
# measuring lays the page out first), and leaves what it found as JSON in an
# element of its own, which --dump-dom then prints.
PROBE = """<script>
(function () {
  var cut = [], wide = 0;
  document.querySelectorAll('pre').forEach(function (pre) {
    if (pre.scrollWidth <= pre.clientWidth + 1) return;
    wide += 1;
    var overflow = getComputedStyle(pre).overflowX;
    if (overflow !== 'auto' && overflow !== 'scroll')
      cut.push(pre.textContent.trim().split('\\n')[0].slice(0, 80));
  });
  var out = document.createElement('pre');
  out.id = 'probe';
  out.textContent = JSON.stringify({
    width: window.innerWidth, page_width: document.documentElement.scrollWidth,
    wide: wide, cut: cut});
  document.body.appendChild(out);
})();
</script>"""


class ProbeResult(html.parser.HTMLParser):
    """The text the probe left in the DOM Chromium dumped."""

    def __init__(self, markup):
        super().__init__(convert_charrefs=True)
        self.text, self._in = [], False
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag, attrs):
        self._in = self._in or ('id', 'probe') in attrs

    def handle_endtag(self, tag):
        if tag == 'pre':
            self._in = False

    def handle_data(self, data):
        if self._in:
            self.text.append(data)


@pytest.fixture(scope='module')
def on_a_phone(page_path, tmp_path_factory):
    """What the probe measured in Chromium at a phone's width.

    Headless Chromium makes its window at least 500 px wide, whatever
    --window-size asks for; that is still below the lab template's phone
    width, and narrower than most lines of code, so the page is laid out and
    cut off as on a phone. The probe reports the width it really got.
    """
    binary = chromium()
    if binary is None:
        pytest.skip('Chromium is not installed (Debian: apt-get install chromium)')
    folder = tmp_path_factory.mktemp('phone')
    probe = folder / 'probe.html'
    before, end, after = page_path.read_text(encoding='utf-8').rpartition('</body>')
    assert end, 'the page has no </body>'
    probe.write_text(before + PROBE + end + after, encoding='utf-8')
    result = subprocess.run(
        browser_command(binary, folder / 'profile', f'--window-size={PHONE[0]},{PHONE[1]}',
                        '--dump-dom', probe.as_uri()),
        capture_output=True, timeout=300)
    assert result.returncode == 0, result.stderr.decode(errors='replace')[-3000:]
    found = ''.join(ProbeResult(result.stdout.decode('utf-8')).text)
    assert found, 'the probe left no result in the page'
    return json.loads(found)


def test_code_scrolls_on_a_phone(on_a_phone):
    width = on_a_phone['width']
    assert width <= LAB_PHONE_WIDTH, f'Chromium laid the page out {width} px wide, not as a phone'
    assert on_a_phone['wide'], (f'no preformatted block is wider than a {width} px screen: '
                                f'this test would see nothing')
    cut = on_a_phone['cut']
    assert not cut, (f'{len(cut)} block(s) wider than a {width} px screen are cut off, not '
                     f'scrollable (CSS in tests/page_template), the first starting: {cut[0]!r}')
    assert on_a_phone['page_width'] <= width, (
        f'the page itself is {on_a_phone["page_width"]} px wide on a {width} px screen')
