# certrescue_kit_push: push the kit tarball to the node, unpack it into a
# fresh directory, check every file with coreutils (sha256sum --check
# SHA256SUMS) before anything from it runs, then with the kit's own
# certrescue kit verify (which also refuses unlisted or unsafe files), and
# set certrescue_bin (the node's certrescue for its architecture) and
# certrescue_kit_verified.
#
# Why an action plugin, not copy and raw tasks: the kit play runs on every
# node of the fleet before anything else, and each task costs the
# controller a fork and a templating round per node (measured: 0.2-0.25 s a
# node and task on a loaded controller, 50 nodes' set_fact alone 13.6 s),
# and ansible.builtin.copy runs Python on the node twice (stat, then copy).
# This is one task: a shell script over the connection (no Python on the
# node: it works where the node has none), the tarball over the
# connection's own file transfer (sftp/scp, the ssh settings of the
# inventory) only when the node does not hold the same one (sha256), and
# a second script to unpack and verify. Every command goes through
# become when the play asks for it, and none uses a tty (stdout stays
# clean).
#
# Arguments: src (the kit tarball on the controller, certrescue-kit-NAME.tar.gz),
# dest (the node's kit directory, made 0700).
from __future__ import annotations

import hashlib
import os
import re
import shlex

from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible.plugins.action import ActionBase

_KIT = re.compile(r"^(certrescue-kit-[A-Za-z0-9._+-]+)\.tar\.gz$")

# $1 dir, $2 tarball name; prints the node's machine, then the sha256 of a
# tarball of that name already there (if any). $3 = check: no mkdir.
_PROBE = r"""set -eu
if [ "$3" != check ]; then
  install -d -m 0700 "$1"
  chmod 0700 "$1"
fi
uname -m
if [ -f "$1/$2" ]; then
  set -- $(sha256sum < "$1/$2")
  echo "$1"
fi
"""

# $1 dir, $2 kit name, $3 tarball name, $4 the pushed file ("" when the node
# holds this tarball already), $5 its temporary directory, $6 the machine.
# A tarball pushed anew is unpacked into a fresh directory (a kit of the same
# name left from an earlier push would keep files the new one does not list,
# which kit verify refuses). Prints the node's certrescue last.
_UNPACK = r"""set -eu
[ -z "$5" ] || trap 'rm -rf "$5"' EXIT
cd "$1"
if [ -n "$4" ]; then
  install -m 0600 "$4" ".$3.push"
  mv -f ".$3.push" "$3"
fi
if [ -n "$4" ] || [ ! -e "$2/SHA256SUMS" ]; then
  rm -rf "$2.unpack"
  mkdir -m 0700 "$2.unpack"
  tar -C "$2.unpack" --no-same-owner -xzf "$3"
  [ -d "$2.unpack/$2" ] || { echo "$1/$3 holds no $2/" >&2; exit 1; }
  rm -rf "$2"
  mv "$2.unpack/$2" "$2"
  rmdir "$2.unpack"
fi
cd "$2"
sha256sum --check --strict --quiet SHA256SUMS >&2 || { echo "$1/$2: sha256sum --check SHA256SUMS failed: the kit was not used" >&2; exit 1; }
case "$6" in
  x86_64|amd64) arch=amd64 ;;
  aarch64|arm64) arch=arm64 ;;
  *) echo "the node's machine is $6: the kit has a certrescue for x86_64 and aarch64 only" >&2; exit 1 ;;
esac
bin="$1/$2/bin/certrescue-linux-$arch"
[ -x "$bin" ] || { echo "$1/$2 has no bin/certrescue-linux-$arch for this node ($6)" >&2; exit 1; }
"$bin" kit verify "$1/$2" >&2
echo "$bin"
"""


class ActionModule(ActionBase):
    TRANSFERS_FILES = True
    _VALID_ARGS = frozenset(("src", "dest"))

    def _sh(self, script, *args):
        # The script goes in on stdin (sh -s): nothing of it on the node's
        # command line, and with stdin the connection asks for no tty.
        cmd = "sh -s -- " + " ".join(shlex.quote(a) for a in args)
        return self._low_level_execute_command(cmd, in_data=to_bytes(script))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        src = self._task.args.get("src") or ""
        dest = self._task.args.get("dest") or ""
        m = _KIT.match(os.path.basename(src))
        if not m:
            return dict(result, failed=True, msg="certrescue_kit_push: src must name the kit tarball, certrescue-kit-VERSION.tar.gz "
                        "(set certrescue_kit to it; make kit writes it to dist/): %r" % src)
        if not dest.startswith("/"):
            return dict(result, failed=True, msg="certrescue_kit_push: dest must be an absolute directory: %r" % dest)
        dest = dest.rstrip("/") or "/"
        try:
            local = self._find_needle("files", src)
        except Exception as e:  # AnsibleError: names the paths it tried
            return dict(result, failed=True, msg="certrescue_kit_push: the kit %s: %s" % (src, to_text(e)))
        tarball, name = os.path.basename(local), m.group(1)
        check = self._task.check_mode

        probe = self._sh(_PROBE, dest, tarball, "check" if check else "")
        if probe["rc"] != 0:
            return dict(result, failed=True, rc=probe["rc"], stderr=probe["stderr"],
                        msg="certrescue_kit_push: the node's kit directory %s: %s" % (dest, probe["stderr"].strip()))
        lines = probe["stdout"].split()
        if not lines:
            return dict(result, failed=True, stdout=probe["stdout"], stderr=probe["stderr"],
                        msg="certrescue_kit_push: the node printed no machine name (uname -m) for %s" % dest)
        machine, held = lines[0], (lines[1] if len(lines) > 1 else "")
        push = held != _sha256(local) if held else True
        facts = dict(certrescue_kit_verified=dest + "/" + name)
        if check:
            # Nothing pushed or unpacked; the paths the kit would have.
            arch = "arm64" if machine in ("aarch64", "arm64") else "amd64"
            facts["certrescue_bin"] = "%s/%s/bin/certrescue-linux-%s" % (dest, name, arch)
            return dict(result, changed=push, ansible_facts=facts)

        pushed, tmpdir = "", ""
        if push:
            tmpdir = self._make_tmp_path()
            pushed = self._connection._shell.join_path(tmpdir, tarball)
            self._transfer_file(local, pushed)
            self._fixup_perms2((tmpdir, pushed), execute=False)
        out = self._sh(_UNPACK, dest, name, tarball, pushed, tmpdir, machine)
        if tmpdir:
            # The script removed it; nothing left for cleanup() to remove.
            self._connection._shell.tmpdir = None
        if out["rc"] != 0:
            return dict(result, failed=True, changed=push, rc=out["rc"], stderr=out["stderr"],
                        msg="certrescue_kit_push: %s/%s: %s" % (dest, name, out["stderr"].strip()))
        facts["certrescue_bin"] = out["stdout"].strip().splitlines()[-1]
        return dict(result, changed=push, ansible_facts=facts, kit=dest + "/" + name,
                    verified=(out["stderr"].strip().splitlines() or [""])[-1])


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
