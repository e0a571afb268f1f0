# vectors.sh - sourced by the shell tests: where the real hardware vector sets are. The sets are
# not in this repository (docs/testing.md, "Real hardware vectors"); the rules are those of
# tests/tools/vectors.py: VECTORS (set by ctest, the flat view CMake made; empty = none), else
# ATTESTD_VECTORS=DIR (DIR/dcap/<origin>/<set>/; set but empty = none), else ../shared/vectors
# beside the source tree.
#   att_vectors NAME REPO TMP   sets VDCAP to a directory with one subdirectory per set (a view of
#                               symlinks under TMP for the origin layout), or prints the one line
#                               "SKIP NAME: ..." and exits 0
att_vectors() {
    VDCAP=
    if [ "${VECTORS+set}" = set ]; then
        [ -n "$VECTORS" ] && [ -d "$VECTORS/dcap" ] && VDCAP=$VECTORS/dcap
    else
        if [ "${ATTESTD_VECTORS+set}" = set ]; then
            r=$ATTESTD_VECTORS
        else
            r=$2/../shared/vectors
        fi
        if [ -n "$r" ] && [ -d "$r/dcap" ]; then
            r=$(cd "$r" && pwd)
            mkdir -p "$3/vectors"
            for q in "$r"/dcap/*/*/quote.bin; do
                [ -f "$q" ] || continue
                d=${q%/quote.bin}
                [ -e "$3/vectors/${d##*/}" ] || ln -s "$d" "$3/vectors/${d##*/}"
                VDCAP=$3/vectors
            done
        fi
    fi
    if [ -z "$VDCAP" ]; then
        echo "SKIP $1: no real vectors (set ATTESTD_VECTORS=DIR, see docs/testing.md)"
        exit 0
    fi
}

#   att_vectors_snp NAME REPO   sets VSNP to the SEV-SNP sets (DIR/snp: <origin>/ files and
#                               amd-roots/), by the same rule (VECTORS_SNP from ctest first), or
#                               prints the one line "SKIP NAME: ..." and exits 0
att_vectors_snp() {
    VSNP=
    if [ "${VECTORS_SNP+set}" = set ]; then
        VSNP=$VECTORS_SNP
    else
        if [ "${ATTESTD_VECTORS+set}" = set ]; then
            r=$ATTESTD_VECTORS
        else
            r=$2/../shared/vectors
        fi
        [ -n "$r" ] && [ -d "$r/snp/amd-roots" ] && VSNP=$(cd "$r/snp" && pwd)
    fi
    if [ -z "$VSNP" ] || [ ! -d "$VSNP/amd-roots" ]; then
        echo "SKIP $1: no real vectors (set ATTESTD_VECTORS=DIR, see docs/testing.md)"
        exit 0
    fi
}

#   att_vectors_tpm NAME REPO   sets VTPM to the TPM sets (DIR/tpm: swtpm-rsa/, trustee-swtpm-evidence/,
#                               ...), by the same rule (VECTORS_TPM from ctest first), or prints
#                               the one line "SKIP NAME: ..." and exits 0
att_vectors_tpm() {
    VTPM=
    if [ "${VECTORS_TPM+set}" = set ]; then
        VTPM=$VECTORS_TPM
    else
        if [ "${ATTESTD_VECTORS+set}" = set ]; then
            r=$ATTESTD_VECTORS
        else
            r=$2/../shared/vectors
        fi
        [ -n "$r" ] && [ -f "$r/tpm/swtpm-rsa/quote.msg" ] && VTPM=$(cd "$r/tpm" && pwd)
    fi
    if [ -z "$VTPM" ] || [ ! -f "$VTPM/swtpm-rsa/quote.msg" ]; then
        echo "SKIP $1: no real vectors (set ATTESTD_VECTORS=DIR, see docs/testing.md)"
        exit 0
    fi
}
