"""vectors.py - where the python tests and tools find the real hardware vector sets.

The sets (real SGX/TDX quotes with their Intel collateral) are public data taken from other
projects, so they are not in this repository (docs/testing.md, "Real hardware vectors"). They are
found the same way as in tests/CMakeLists.txt, first match wins:
  VECTORS          set by ctest: the flat view CMake made at configure time (VECTORS/dcap/<set>/);
                   empty means none was found
  ATTESTD_VECTORS  DIR laid out DIR/dcap/<origin>/<set>/; set but empty means none
  ../shared/vectors beside the source tree (same layout)
dcap_dir() returns a directory named dcap holding one subdirectory per set, the layout `attestd
--collateral-dir` reads (for the origin layout: a temporary view of symlinks, removed at exit), or
None. A test that needs the sets and finds none calls skip(): one line, exit status 0.
"""
import atexit
import os
import shutil
import sys
import tempfile

HINT = 'no real vectors (set ATTESTD_VECTORS=DIR, see docs/testing.md)'
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_view = []


def root(repo=REPO):
    """The vectors directory (DIR/dcap/<origin>/<set>) named by the environment or beside repo."""
    if 'ATTESTD_VECTORS' in os.environ:
        r = os.environ['ATTESTD_VECTORS']
        return os.path.abspath(r) if r else None
    r = os.path.join(os.path.dirname(os.path.abspath(repo)), 'shared', 'vectors')
    return r if os.path.isdir(r) else None


def _flat(dcap):
    """{set name: directory} for every DIR/dcap/<origin>/<set> holding a quote.bin."""
    sets = {}
    for origin in sorted(os.listdir(dcap)):
        od = os.path.join(dcap, origin)
        if not os.path.isdir(od):
            continue
        for name in sorted(os.listdir(od)):
            d = os.path.join(od, name)
            if os.path.isfile(os.path.join(d, 'quote.bin')):
                sets.setdefault(name, d)
    return sets


def dcap_dir(repo=REPO):
    """A directory of DCAP sets, one subdirectory each, or None when there are none."""
    if 'VECTORS' in os.environ:
        v = os.environ['VECTORS']
        d = os.path.join(v, 'dcap') if v else ''
        return d if d and os.path.isdir(d) else None
    if _view:
        return _view[0]
    r = root(repo)
    if r is None or not os.path.isdir(os.path.join(r, 'dcap')):
        return None
    sets = _flat(os.path.join(r, 'dcap'))
    if not sets:
        return None
    tmp = tempfile.mkdtemp(prefix='attestd-vectors-')
    atexit.register(shutil.rmtree, tmp, True)  # removes the links, never their targets
    view = os.path.join(tmp, 'dcap')  # laid out as the build's view: <tmp>/dcap/<set>
    os.mkdir(view)
    for name, d in sets.items():
        os.symlink(d, os.path.join(view, name))
    _view.append(view)
    return view


def snp_dir(repo=REPO):
    """The SEV-SNP sets (DIR/snp: <origin>/ files, amd-roots/), or None: VECTORS_SNP from ctest
    (empty = none), else the same rule as root()."""
    if 'VECTORS_SNP' in os.environ:
        v = os.environ['VECTORS_SNP']
        return v if v and os.path.isdir(os.path.join(v, 'amd-roots')) else None
    r = root(repo)
    d = os.path.join(r, 'snp') if r else None
    return d if d and os.path.isdir(os.path.join(d, 'amd-roots')) else None


def tpm_dir(repo=REPO):
    """The TPM sets (DIR/tpm: swtpm-rsa/, trustee-swtpm-evidence/, ...), or None: VECTORS_TPM from
    ctest (empty = none), else the same rule as root()."""
    if 'VECTORS_TPM' in os.environ:
        v = os.environ['VECTORS_TPM']
        return v if v and os.path.isfile(os.path.join(v, 'swtpm-rsa', 'quote.msg')) else None
    r = root(repo)
    d = os.path.join(r, 'tpm') if r else None
    return d if d and os.path.isfile(os.path.join(d, 'swtpm-rsa', 'quote.msg')) else None


def skip(name):
    """Print the one SKIP line of a test that needs the sets and exit 0."""
    print('SKIP %s: %s' % (name, HINT), flush=True)
    sys.exit(0)

