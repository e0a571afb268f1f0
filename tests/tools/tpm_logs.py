#!/usr/bin/env python3
"""tpm_logs.py OUT - TPM event logs for the tests, with the PCR extends they describe.

Writes into OUT:
  eventlog.bin   a TCG PC Client crypto-agile log (the format of Linux's binary_bios_measurements):
                 the Spec ID event (sha1 + sha256), EV_S_CRTM_VERSION on PCR 0, the SecureBoot
                 EV_EFI_VARIABLE_DRIVER_CONFIG (enabled) on PCR 7, two EV_EFI_BOOT_SERVICES_APPLICATION
                 on PCR 4 (a boot manager, then a kernel), an EV_NO_ACTION that extends nothing,
                 EV_SEPARATOR on PCRs 0, 4 and 7
  ima.ascii      a Linux IMA log in the ascii form (ima-ng: boot_aggregate and two files, one ima-sig
                 line with an empty signature) on PCR 10
  ima.bin        the same entries in the binary form (binary_runtime_measurements)
  extends.txt    one tpm2_pcrextend argument per line ("PCR:sha1=HEX,sha256=HEX"), TCG then IMA
  expect.json    what the log says: the boot manager and kernel digests (sha256), secure boot
Also usable as a module: tcg_log(events), ima_entries(...).
"""
import hashlib
import json
import os
import struct
import sys

SHA1, SHA256 = 0x0004, 0x000B
EFI_GLOBAL = bytes.fromhex('61dfe48bca93d211aa0d00e098032b8c')


def spec_id(algs=((SHA1, 20), (SHA256, 32))):
    data = b'Spec ID Event03\0' + struct.pack('<IBBBBI', 0, 0, 2, 0, 2, len(algs))
    for a, s in algs:
        data += struct.pack('<HH', a, s)
    data += b'\0'  # vendorInfoSize
    return struct.pack('<II', 0, 3) + b'\0' * 20 + struct.pack('<I', len(data)) + data


def event2(pcr, etype, data, digests=None):
    """A TCG_PCR_EVENT2; digests {alg: bytes} default to the hashes of data."""
    if digests is None:
        digests = {SHA1: hashlib.sha1(data).digest(), SHA256: hashlib.sha256(data).digest()}
    out = struct.pack('<III', pcr, etype, len(digests))
    for a, d in digests.items():
        out += struct.pack('<H', a) + d
    return out + struct.pack('<I', len(data)) + data


def efi_var(name, value):
    n = name.encode('utf-16-le')
    return EFI_GLOBAL + struct.pack('<QQ', len(name), len(value)) + n + value


def ima_ng(path, content, sig=None):
    """(template name, template data, file digest) of an ima-ng (or ima-sig) entry."""
    fd = hashlib.sha256(content).digest()
    d = b'sha256:\0' + fd
    n = path.encode() + b'\0'
    td = struct.pack('<I', len(d)) + d + struct.pack('<I', len(n)) + n
    if sig is not None:
        td += struct.pack('<I', len(sig)) + sig
    return ('ima-sig' if sig is not None else 'ima-ng'), td, fd


def main(out):
    extends = []
    apps = [hashlib.sha256(b'shimx64.efi').digest(), hashlib.sha256(b'vmlinuz-6.1').digest()]
    app_sha1 = [hashlib.sha1(b'shimx64.efi').digest(), hashlib.sha1(b'vmlinuz-6.1').digest()]
    evs = [
        (0, 0x00000008, b'attestd test firmware 1.0\0', None),
        (7, 0x80000001, efi_var('SecureBoot', b'\x01'), None),
        (4, 0x80000003, b'\x00' * 32, {SHA1: app_sha1[0], SHA256: apps[0]}),
        (0, 0x00000003, b'a no-action event\0', {SHA1: b'\0' * 20, SHA256: b'\0' * 32}),
        (4, 0x80000003, b'\x00' * 32, {SHA1: app_sha1[1], SHA256: apps[1]}),
        (0, 0x00000004, b'\0\0\0\0', None),
        (4, 0x00000004, b'\0\0\0\0', None),
        (7, 0x00000004, b'\0\0\0\0', None),
    ]
    log = spec_id()
    for pcr, t, data, dg in evs:
        log += event2(pcr, t, data, dg)
        if t != 3:
            d = dg or {SHA1: hashlib.sha1(data).digest(), SHA256: hashlib.sha256(data).digest()}
            extends.append('%d:sha1=%s,sha256=%s' % (pcr, d[SHA1].hex(), d[SHA256].hex()))
    open(os.path.join(out, 'eventlog.bin'), 'wb').write(log)

    entries = [ima_ng('boot_aggregate', b'aggregate'), ima_ng('/usr/bin/kmod', b'kmod binary'),
               ima_ng('/etc/hosts file', b'127.0.0.1 localhost\n'),
               ima_ng('/usr/lib/x.so', b'x', sig=b'')]
    asc, binlog = [], b''
    for name, td, fd in entries:
        th = hashlib.sha1(td).digest()
        path = td[4 + 8 + 32 + 4:].split(b'\0')[0].decode()
        line = '10 %s %s sha256:%s %s' % (th.hex(), name, fd.hex(), path)
        if name == 'ima-sig':
            line += ' '  # the empty third field, as the kernel prints it
        asc.append(line)
        binlog += struct.pack('<I', 10) + th + struct.pack('<I', len(name)) + name.encode()
        binlog += struct.pack('<I', len(td)) + td
        extends.append('10:sha1=%s,sha256=%s' % (th.hex(), hashlib.sha256(td).hexdigest()))
    open(os.path.join(out, 'ima.ascii'), 'w').write('\n'.join(asc) + '\n')
    open(os.path.join(out, 'ima.bin'), 'wb').write(binlog)
    open(os.path.join(out, 'extends.txt'), 'w').write('\n'.join(extends) + '\n')
    json.dump({'boot_manager': apps[0].hex(), 'kernel': apps[1].hex(), 'secure_boot': True,
               'tcg_events': 1 + len(evs), 'ima_events': len(entries)},
              open(os.path.join(out, 'expect.json'), 'w'))


if __name__ == '__main__':
    main(sys.argv[1])
