#!/usr/bin/env python3
"""test_package.py - attestd installs and runs like any other Debian service (issue 16).

Builds the Debian packages as `make deb` does (scripts/make-deb: dpkg-buildpackage + debhelper from
a copy of the tree, then lintian, which must report no error or warning), then checks them the
way an administrator meets them, all inside a scratch root (`dpkg -x`), never on the machine:

- the four packages and what each holds (libattest.so.0's SONAME, its exported symbols: only
  att_*, and every ATT_API function of the packaged headers; the conffile, the postinst
  that makes the attestd user); the sysusers.d entry really creates that user (systemd-sysusers
  --root in the scratch root);
- the systemd unit: `systemd-analyze verify` passes, and it carries the hardening the issue asks
  for (own user, ProtectSystem=strict, NoNewPrivileges, StateDirectory); its exposure score
  from `systemd-analyze security --offline` is printed;
- the man pages match the binaries: every option of `attestd --help` is in attestd(8) and the
  page names none that is not; every command of `attest --help` is in attest(1);
- the unit's ExecStart command line, paths moved into the scratch root, with the packaged sample
  configuration, starts attestd (listen, data directory and collateral source overridden through
  the environment, which beats the file: loopback, a scratch state directory, the packaged
  `attest sim collateral-server`); /readyz answers 200; the packaged `attest run` gets a token
  from it and `attest token verify` accepts it; SIGTERM stops it with exit 0;
- a C program compiles against the packaged headers with `pkg-config --cflags --libs attest`
  (PKG_CONFIG_SYSROOT_DIR/PATH into the scratch root), links libattest.so.0 from there, runs, and
  computes the same policy hash as the packaged `attest policy check`;
- bash completion completes attestd's options and attest's commands, subcommands and options;
- `cmake --install` of the build into a DESTDIR (what `make install` does) installs the same
  files, puts the unit's ExecStart binary and --config file where the unit says, and a second
  install keeps an edited configuration;
- from a git checkout the packages' version grows with the commits (an upgrade is an upgrade).

Environment (ctest sets them): REPO (source root), BUILD (build directory: the packages are built
in BUILD/package). ATT_PACKAGE_DEBS=DIR reuses the .deb files of an earlier `make deb` in DIR
instead of building (for working on this test only; ctest never sets it).
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.environ.get('REPO') or os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, 'tests', 'e2e'))
import harness  # noqa: E402
from harness import Results, free_port, request, run, tmpdir  # noqa: E402

T = Results('package/test_package')
BUILD = os.environ.get('BUILD') or os.path.join(REPO, 'build')
PKGS = ('attestd', 'attest', 'libattest0', 'libattest-dev')


def multiarch():
    return subprocess.run(['dpkg-architecture', '-qDEB_HOST_MULTIARCH'], stdout=subprocess.PIPE,
                          text=True, check=True).stdout.strip()


def build_debs():
    """The .deb files by package name, built by scripts/make-deb (or reused: ATT_PACKAGE_DEBS)."""
    out = os.environ.get('ATT_PACKAGE_DEBS')
    if not out:
        out = os.path.join(BUILD, 'package')
        t0 = time.monotonic()
        r = run([os.path.join(REPO, 'scripts', 'make-deb'), out], timeout=1500,
                env=dict(os.environ, JOBS='2'))
        print('make-deb (dpkg-buildpackage + lintian): %.0f s' % (time.monotonic() - t0))
        print(r.stdout[-1500:])
        T.eq('make-deb: packages built and lintian reports no error or warning', r.returncode, 0,
             r.stdout[-3000:] + r.stderr[-3000:])
    debs = {}
    for f in os.listdir(out):
        m = re.match(r'^([a-z0-9.+-]+)_[^_]+_[a-z0-9]+\.deb$', f)
        if m:
            debs[m.group(1)] = os.path.join(out, f)
    for p in PKGS:
        T.check('package %s built' % p, p in debs, sorted(debs))
    return debs


def deb_field(deb, field):
    return run(['dpkg-deb', '-f', deb, field]).stdout.strip()


def deb_ctrl(deb, name):
    """One file of the package's control archive (postinst, conffiles, ...), or ''."""
    r = subprocess.run(['sh', '-c', 'dpkg-deb --ctrl-tarfile "$1" | tar -xOf - ./"$2"', 'sh', deb,
                        name], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return r.stdout if r.returncode == 0 else ''


def check_contents(debs, root, ma):
    lib = os.path.join(root, 'usr/lib', ma, 'libattest.so.0')
    T.check('libattest0 holds libattest.so.0', os.path.exists(lib))
    r = run(['objdump', '-p', lib])
    T.check('its SONAME is libattest.so.0', re.search(r'SONAME\s+libattest\.so\.0\b', r.stdout),
            r.stdout[:800])
    syms = set(run(['nm', '-D', '--defined-only', lib]).stdout.split()[2::3])
    T.check('libattest.so.0 exports only att_* symbols (%d)' % len(syms),
            syms and all(x.startswith('att_') for x in syms),
            sorted(x for x in syms if not x.startswith('att_'))[:20])
    api = set()
    for h in os.listdir(os.path.join(root, 'usr/include/attest')):
        text = open(os.path.join(root, 'usr/include/attest', h)).read()
        api |= set(re.findall(r'\bATT_API\b[^;(]*?\b(att_\w+)\s*\(', text))
    T.check('every ATT_API function of the packaged headers (%d) is exported' % len(api),
            len(api) > 50 and api <= syms, sorted(api - syms))
    T.eq('libattest-dev: libattest.so -> the runtime library',
         os.path.realpath(os.path.join(root, 'usr/lib', ma, 'libattest.so')), os.path.realpath(lib))
    T.check('libattest-dev depends on libattest0 of the same version',
            'libattest0 (= ' in deb_field(debs['libattest-dev'], 'Depends'))
    for f in ('usr/include/attest/types.h', 'usr/include/attest/policy.h',
              'usr/lib/%s/pkgconfig/attest.pc' % ma, 'usr/sbin/attestd', 'usr/bin/attest',
              'usr/share/man/man8/attestd.8.gz', 'usr/share/man/man5/attestd.conf.5.gz',
              'usr/share/man/man1/attest.1.gz', 'usr/share/bash-completion/completions/attestd',
              'usr/share/bash-completion/completions/attest', 'etc/attestd/attestd.conf',
              'lib/systemd/system/attestd.service', 'usr/lib/sysusers.d/attestd.conf',
              'usr/share/doc/attestd/server.md.gz'):
        T.check('installed: /%s' % f, os.path.exists(os.path.join(root, f)))
    T.check('/etc/attestd/attestd.conf is a conffile',
            '/etc/attestd/attestd.conf' in deb_ctrl(debs['attestd'], 'conffiles'))
    post = deb_ctrl(debs['attestd'], 'postinst')
    T.check('attestd postinst creates the user (systemd-sysusers attestd.conf)',
            'systemd-sysusers' in post and 'attestd.conf' in post, post)
    T.check('attestd postinst enables the unit', "enable 'attestd.service'" in post, post)
    # the sysusers.d entry, applied to the scratch root by systemd-sysusers itself
    for f in ('passwd', 'group', 'shadow', 'gshadow'):
        open(os.path.join(root, 'etc', f), 'a').close()
    r = run(['systemd-sysusers', '--root', root, 'attestd.conf'])  # as the postinst does
    passwd = open(os.path.join(root, 'etc/passwd')).read()
    m = re.search(r'^attestd:x:(\d+):(\d+):[^:]*:([^:]*):([^:\n]*)$', passwd, re.M)
    T.check('systemd-sysusers makes a system user attestd, home /var/lib/attestd',
            r.returncode == 0 and m and int(m.group(1)) < 1000 and m.group(3) == '/var/lib/attestd',
            r.stderr + passwd)


def unit_settings(path):
    s = {}
    for line in open(path):
        line = line.strip()
        if line and line[0] not in '#;[' and '=' in line:
            k, v = line.split('=', 1)
            s.setdefault(k.strip(), []).append(v.strip())
    return s


def check_unit(root):
    unit = os.path.join(root, 'lib/systemd/system/attestd.service')
    # verify checks that ExecStart='s binary exists and that `man` finds the Documentation= pages:
    # a copy of the unit with ExecStart='s paths in the scratch root, MANPATH its man pages (the
    # systemd-analyze --root of Debian 12 has no system units to resolve the default
    # dependencies against)
    _, argv = exec_start(root, unit_settings(unit))
    copy = os.path.join(tmpdir('attestd-pkg-unit-'), 'attestd.service')
    with open(copy, 'w') as f:
        for line in open(unit):
            f.write('ExecStart=%s\n' % ' '.join(argv) if line.startswith('ExecStart=') else line)
    r = run(['systemd-analyze', 'verify', copy], timeout=120,
            env=dict(os.environ, MANPATH=os.path.join(root, 'usr/share/man')))
    T.check('systemd-analyze verify attestd.service: no complaint',
            r.returncode == 0 and not r.stderr.strip(), r.stdout + r.stderr)
    r = run(['systemd-analyze', 'security', '--offline=yes', '--root', root, unit], timeout=120)
    m = re.search(r'Overall exposure level for \S+: ([0-9.]+) (\w+)', r.stdout + r.stderr)
    print('systemd-analyze security: %s' % (m.group(0) if m else (r.stdout + r.stderr)[-300:]))
    T.check('systemd-analyze security: exposure at most 2.0 (OK or better)',
            m and float(m.group(1)) <= 2.0, (r.stdout + r.stderr)[-2000:])
    s = unit_settings(unit)
    for k, v in (('User', 'attestd'), ('ProtectSystem', 'strict'), ('NoNewPrivileges', 'yes'),
                 ('StateDirectory', 'attestd'), ('PrivateTmp', 'yes'), ('ProtectHome', 'yes'),
                 ('CapabilityBoundingSet', '')):
        T.eq('unit: %s=%s' % (k, v), s.get(k), [v])
    return s


def man_text(path):
    return subprocess.run(['sh', '-c', 'gzip -dc "$1"', 'sh', path], stdout=subprocess.PIPE,
                          text=True, check=True).stdout


def help_options(text):
    """The long options `attestd --help` lists: lines '  --name [METAVAR]  text'."""
    return set(re.findall(r'^  (--[a-z0-9][a-z0-9-]*)', text, re.M))


def man_options(roff):
    """The long options attestd(8) describes: the .TP tags of its OPTIONS section."""
    sec = roff.split('.SH OPTIONS', 1)[1].split('\n.SH ', 1)[0]
    tags = re.findall(r'^\.TP\n(.*)$', sec, re.M)
    return {re.sub(r'\\f[BIRP]', '', re.match(r'^(?:\.B )?(\S+)', t).group(1)).replace('\\-', '-')
            for t in tags}


def help_commands(text):
    sec = text.split('commands:', 1)[1]
    return set(re.findall(r'^  ([a-z][a-z-]*) ', sec, re.M))


def man_commands(roff):
    sec = roff.split('.SH COMMANDS', 1)[1].split('\n.SH ', 1)[0]
    return set(re.findall(r'^\.TP\n\.B (\S+)$', sec, re.M))


def check_man(root):
    h = run([os.path.join(root, 'usr/sbin/attestd'), '--help'])
    want = help_options(h.stdout)
    got = man_options(man_text(os.path.join(root, 'usr/share/man/man8/attestd.8.gz')))
    T.check('attestd --help lists options (%d)' % len(want), h.returncode == 0 and len(want) > 20,
            h.stdout + h.stderr)
    T.eq('attestd(8) OPTIONS describes exactly the options of attestd --help (a new option needs '
         'its .TP entry in man/attestd.8): missing from the page, not in --help',
         (sorted(want - got), sorted(got - want)), ([], []))
    h = run([os.path.join(root, 'usr/bin/attest'), '--help'])
    want = help_commands(h.stdout)
    got = man_commands(man_text(os.path.join(root, 'usr/share/man/man1/attest.1.gz')))
    T.check('attest --help lists commands (%d)' % len(want), len(want) >= 5, h.stdout + h.stderr)
    T.eq('attest(1) COMMANDS describes exactly the commands of attest --help (a new command needs '
         'its .TP entry in man/attest.1): missing from the page, not in --help',
         (sorted(want - got), sorted(got - want)), ([], []))
    for page in ('man8/attestd.8.gz', 'man5/attestd.conf.5.gz', 'man1/attest.1.gz'):
        r = run(['sh', '-c', 'gzip -dc "$1" | groff -man -Tutf8 -ww -z 2>&1',
                 'sh', os.path.join(root, 'usr/share/man', page)])
        T.eq('%s renders without a groff warning' % page, r.stdout.strip(), '')


def exec_start(root, settings):
    """The unit's ExecStart= as argv, every absolute path that the package installs moved into
    the scratch root."""
    argv = settings['ExecStart'][0].split()
    out = []
    for a in argv:
        if a.startswith('/') and os.path.exists(os.path.join(root, a.lstrip('/'))):
            a = os.path.join(root, a.lstrip('/'))
        out.append(a)
    return argv, out


def start_line(argv, env=None):
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         stdin=subprocess.DEVNULL, text=True, env=env)
    harness._procs.append(p)
    return p, p.stdout.readline().strip()


def check_service(root, settings):
    w = tmpdir('attestd-pkg-run-')
    attest = os.path.join(root, 'usr/bin/attest')
    sim = os.path.join(w, 'sim')
    r = run([attest, 'sim', 'init', sim])
    T.eq('packaged attest sim init', r.returncode, 0, r.stderr)
    coll, coll_url = start_line([attest, 'sim', 'collateral-server', '--dir', sim, '--quiet'])
    T.check('packaged attest sim collateral-server on loopback',
            coll_url.startswith('http://127.0.0.1:'), coll_url)

    orig, argv = exec_start(root, settings)
    T.eq('ExecStart is attestd --config /etc/attestd/attestd.conf', orig,
         ['/usr/sbin/attestd', '--config', '/etc/attestd/attestd.conf'])
    state = os.path.join(w, 'var-lib-attestd')  # what StateDirectory= makes: 0700
    os.mkdir(state, 0o700)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith('ATTESTD_')}
    env.update(ATTESTD_LISTEN='127.0.0.1:%d' % port, ATTESTD_DATA_DIR=state,
               ATTESTD_COLLATERAL_URL=coll_url,
               ATTESTD_TRUST_ROOT=os.path.join(sim, 'trust_root.pem'))
    err_path = os.path.join(w, 'attestd.stderr')
    with open(err_path, 'w') as err:
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err,
                             stdin=subprocess.DEVNULL, env=env)
    harness._procs.append(p)
    url = 'http://127.0.0.1:%d' % port
    status = None
    for _ in range(300):  # waits for the start, up to 30 s: not a timing assertion
        if p.poll() is not None:
            break
        try:
            status = request(url, 'GET', '/readyz', api=None, timeout=2).status
        except OSError:
            status = None
        if status == 200:
            break
        time.sleep(0.1)
    log = open(err_path, errors='replace').read()
    T.eq('the unit\'s command line with the packaged config: /readyz answers 200', status, 200,
         log[-2000:])
    # every line of the packaged file was parsed: an unknown name or a bad value exits 2 before
    # the start; and the --config argument is what is read (a missing file: exit 2, named)
    T.check('attestd runs with the packaged config file', p.poll() is None, log[-2000:])
    missing = os.path.join(w, 'no-such.conf')
    r = run([argv[0], '--config', missing] + argv[3:], env=env)
    T.check('the same command line with a missing --config file: exit 2 naming it',
            r.returncode == 2 and missing in r.stderr, r.stderr)
    if status == 200:
        rt = os.path.join(w, 'rt.bin')
        open(rt, 'wb').write(b'package runtime data')
        r = run([attest, 'run', '--url', url, '--provider', 'sim', '--sim-dir', sim,
                 '--runtime-data', rt, '--nonce', 'pkg-1'])
        T.eq('packaged attest run against the packaged attestd: a token', r.returncode, 0,
             r.stderr + log[-1500:])
        tok = os.path.join(w, 'token.jwt')
        open(tok, 'w').write(r.stdout)
        v = run([attest, 'token', 'verify', tok, '--issuer', url, '--nonce', 'pkg-1'])
        T.eq('packaged attest token verify accepts it', v.returncode, 0, v.stdout + v.stderr)
        T.check('the store is in the state directory', os.path.exists(os.path.join(state,
                                                                                   'attestd.db')),
                os.listdir(state))
    p.send_signal(signal.SIGTERM)
    try:
        rc = p.wait(20)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = 'still running 20 s after SIGTERM'
    T.eq('SIGTERM stops it: exit 0', rc, 0, open(err_path, errors='replace').read()[-1500:])
    coll.terminate()


PROGRAM = r'''
#include <attest/policy.h>
#include <attest/types.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    FILE *f = fopen(argv[1], "rb");
    static char text[65536];
    size_t n = f ? fread(text, 1, sizeof text, f) : 0;
    att_policy_t *pol = NULL;
    att_policy_pos_t pos;
    att_diag_t d = {0};
    att_err_t e = att_policy_compile(text, n, &pol, &pos, &d);
    if (e != ATT_OK) {
        printf("compile: %s (%s): %s\n", att_err_name(e), att_strerror(e), d.msg);
        return 1;
    }
    json_t *claims = json_pack("{s:b}", "x-ms-sgx-is-debuggable", 0);
    att_policy_result_t *res = NULL;
    e = att_policy_eval(pol, claims, NULL, &res, &d);
    att_time_t t;
    char buf[ATT_TIME_STRLEN];
    if (att_time_parse("2025-07-01T00:00:00+02:00", &t) != ATT_OK)
        return 1;
    printf("hash %s\neval %s permitted %d\ntime %s\n", att_policy_hash(pol), att_err_name(e),
           e == ATT_OK && att_policy_permitted(res), att_time_format(t, buf));
    att_policy_result_free(res);
    att_policy_free(pol);
    json_decref(claims);
    return 0;
}
'''

POLICY = '''version= 1.0;
authorizationrules
{
    c:[type=="x-ms-sgx-is-debuggable", value==false] => permit();
};
issuancerules
{
    c:[type=="x-ms-sgx-is-debuggable"] => issue(type="is-debuggable", value=c.value);
};
'''


def check_pkgconfig(root, ma):
    w = tmpdir('attestd-pkg-cc-')
    env = dict(os.environ, PKG_CONFIG_SYSROOT_DIR=root,
               PKG_CONFIG_PATH=os.path.join(root, 'usr/lib', ma, 'pkgconfig'))
    r = run(['pkg-config', '--cflags', '--libs', 'attest'], env=env)
    T.eq('pkg-config --cflags --libs attest (sysroot: the scratch root)', r.returncode, 0, r.stderr)
    flags = r.stdout.split()
    T.check('its -I is the packaged include directory',
            '-I%s/usr/include' % root in flags, flags)
    T.check('its -L is the packaged library directory and it links -lattest',
            '-L%s/usr/lib/%s' % (root, ma) in flags and '-lattest' in flags, flags)
    r = run(['pkg-config', '--modversion', 'attest'], env=env)
    T.check('pkg-config --modversion attest is the package version',
            r.stdout.strip() and r.stdout.strip() in deb_version, r.stdout)
    src = os.path.join(w, 'prog.c')
    open(src, 'w').write(PROGRAM)
    exe = os.path.join(w, 'prog')
    r = run(['sh', '-c', 'cc -std=c11 -Wall -Werror -o "$1" "$2" $(pkg-config --cflags --libs attest)',
             'sh', exe, src], env=env)
    T.eq('a C program compiles against the packaged headers and links libattest', r.returncode, 0,
         r.stdout + r.stderr)
    if r.returncode:
        return
    needed = run(['objdump', '-p', exe]).stdout
    T.check('the program needs libattest.so.0', re.search(r'NEEDED\s+libattest\.so\.0\b', needed),
            needed[:1000])
    pol = os.path.join(w, 'policy.txt')
    open(pol, 'w').write(POLICY)
    libdir = os.path.join(root, 'usr/lib', ma)
    renv = dict(os.environ, LD_LIBRARY_PATH=libdir)
    r = run(['ldd', exe], env=renv)
    T.check('ldd: libattest.so.0 comes from the scratch root', '%s/libattest.so.0' % libdir in r.stdout,
            r.stdout)
    r = run([exe, pol], env=renv)
    T.eq('it runs', r.returncode, 0, r.stdout + r.stderr)
    c = run([os.path.join(root, 'usr/bin/attest'), 'policy', 'check', pol])
    m = re.search(r'([A-Za-z0-9_-]{43})', c.stdout)
    T.check('its policy hash is the one the packaged attest policy check prints',
            m and ('hash %s' % m.group(1)) in r.stdout, r.stdout + '\n' + c.stdout + c.stderr)
    T.check('the policy permits, through the library', 'eval ATT_OK permitted 1' in r.stdout,
            r.stdout)
    T.check('att_time_parse/att_time_format through the library',
            'time 2025-06-30T22:00:00Z' in r.stdout, r.stdout)


def complete(root, cmd, words):
    """COMPREPLY of the packaged completion for the command line `words` (the last is the word
    being completed)."""
    script = '''
        . /usr/share/bash-completion/bash_completion
        . "$1"
        shift
        COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
        _%s "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
        printf '%%s\\n' "${COMPREPLY[@]}"
    ''' % cmd
    env = dict(os.environ, PATH='%s/usr/sbin:%s/usr/bin:%s' % (root, root, os.environ['PATH']))
    r = run(['bash', '-c', script, 'bash',
             os.path.join(root, 'usr/share/bash-completion/completions', cmd)] + words, env=env)
    return r.stdout.split(), r.stderr


def check_completion(root):
    if not os.path.exists('/usr/share/bash-completion/bash_completion'):
        T.check('bash-completion installed (scripts/install-deps)', False)
        return
    got, err = complete(root, 'attestd', ['attestd', '--lis'])
    T.eq('attestd --lis<TAB>', got, ['--listen'], err)
    got, err = complete(root, 'attestd', ['attestd', '--log-level', 'w'])
    T.eq('attestd --log-level w<TAB>', got, ['warn'], err)
    got, err = complete(root, 'attestd', ['attestd', 'keys', 'r'])
    T.eq('attestd keys r<TAB>', got, ['rotate'], err)
    got, err = complete(root, 'attest', ['attest', 'po'])
    T.eq('attest po<TAB>', got, ['policy'], err)
    got, err = complete(root, 'attest', ['attest', 'quote', ''])
    T.eq('attest quote <TAB>', sorted(got), ['dump', 'verify'], err)
    got, err = complete(root, 'attest', ['attest', 'quote', 'verify', '--quo'])
    T.eq('attest quote verify --quo<TAB>', got, ['--quote'], err)


def check_make_install():
    """What `make install` does, into a DESTDIR: cmake --install of this build. The unit must
    point at the binary and config as installed under this build's prefix."""
    prefix = None
    for line in open(os.path.join(BUILD, 'CMakeCache.txt')):
        if line.startswith('CMAKE_INSTALL_PREFIX:'):
            prefix = line.split('=', 1)[1].strip()
    dest = os.path.join(tmpdir('attestd-pkg-inst-'), 'dest')
    env = dict(os.environ, DESTDIR=dest)
    r = run(['cmake', '--install', BUILD], env=env)
    T.eq('cmake --install into a DESTDIR (prefix %s)' % prefix, r.returncode, 0,
         r.stdout[-1500:] + r.stderr)
    found = {}
    for d, _, files in os.walk(dest):
        for f in files:
            found.setdefault(f, os.path.join(d, f))
    for f in ('attestd', 'attest', 'libattest.so.0', 'libattest.so', 'types.h', 'attest.pc',
              'attestd.8', 'attest.1', 'attestd.conf.5', 'attestd.service', 'attestd.conf'):
        T.check('make install installs %s' % f, f in found, sorted(found))
    unit = found.get('attestd.service')
    T.check('the unit is installed', unit, r.stdout)
    if not unit:
        return
    argv = unit_settings(unit)['ExecStart'][0].split()
    T.eq('its ExecStart names the binary and config under the prefix',
         argv, [prefix + '/sbin/attestd', '--config', prefix + '/etc/attestd/attestd.conf'])
    for a in (argv[0], argv[2]):
        T.check('installed where the unit says: %s' % a, os.path.exists(dest + a))
    conf = dest + argv[2]
    if not os.path.exists(conf):
        return
    with open(conf, 'a') as f:
        f.write('threads = 3\n')
    r = run(['cmake', '--install', BUILD, '--component', 'server'], env=env)
    T.check('a second install keeps the edited configuration',
            r.returncode == 0 and open(conf).read().endswith('threads = 3\n'), r.stdout + r.stderr)


deb_version = ''


def main():
    global deb_version
    for tool in ('dpkg-buildpackage', 'dh', 'lintian', 'systemd-analyze', 'systemd-sysusers',
                 'pkg-config', 'cc', 'objdump', 'groff'):
        if not shutil.which(tool):
            T.check('%s is installed (scripts/install-deps installs it)' % tool, False)
            return
    debs = build_debs()
    if any(p not in debs for p in PKGS):
        return
    deb_version = deb_field(debs['attestd'], 'Version')
    base = run(['dpkg-parsechangelog', '-l', os.path.join(REPO, 'debian/changelog'), '-S',
                'Version']).stdout.strip()
    if os.path.isdir(os.path.join(REPO, '.git')) and not os.environ.get('ATT_PACKAGE_DEBS'):
        # from git: a version that grows with the commits, so that a later build upgrades
        r = run(['dpkg', '--compare-versions', deb_version, 'gt', base])
        T.check('the packages\' version %s is above debian/changelog\'s %s' % (deb_version, base),
                r.returncode == 0 and re.search(r'\+git\d+\.[0-9a-f]+$', deb_version), deb_version)
    root = tmpdir('attestd-pkg-root-')
    for p in PKGS:
        r = run(['dpkg-deb', '-x', debs[p], root])
        T.eq('dpkg -x %s into the scratch root' % p, r.returncode, 0, r.stderr)
    ma = multiarch()
    T.section(check_contents, debs, root, ma)
    settings = {}
    try:
        settings = check_unit(root)
    except Exception as e:  # noqa: BLE001
        T.check('check_unit raised', False, repr(e))
    T.section(check_man, root)
    if settings.get('ExecStart'):
        T.section(check_service, root, settings)
    T.section(check_pkgconfig, root, ma)
    T.section(check_completion, root)
    T.section(check_make_install)


if __name__ == '__main__':
    T.run(main)
