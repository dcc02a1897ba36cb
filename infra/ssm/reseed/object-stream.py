#!/usr/bin/env python3
"""object-stream: streams a physical backup into the object store and back, for infra/ssm/reseed/reseed.sh.

  object-stream.py put KEY EXPECTED_BYTES   stdin (raw xbstream) -> zstd or gzip -> KEY (S3 multipart or folder)
  object-stream.py get KEY                  KEY -> unzstd or gunzip (by the object's magic) -> stdout

Why Python: the database hosts have no Node.js and not necessarily the AWS CLI, but every Linux image
the SSM Agent supports ships python3. Only the standard library is used: SigV4 signing, multipart
upload, IMDSv2 credentials. Memory stays bounded (a few 8 MiB pieces and at most five parts in
flight) and nothing is written to local disk.

Compression: zstd when the host has the `zstd` command (its own threads, -T; level 1 compresses about
twice as fast as gzip level 1 and decompresses several times faster), else gzip in this process: the
stream cut into independent 8 MiB gzip members compressed on several threads (zlib releases the GIL),
a file that every gunzip reads. `get` tells the two apart by the object's first bytes, so a host
restores whatever its source stored, provided it has zstd when the object is zstd.

Settings are environment variables set by reseed.sh from its root-owned settings file (never from the
document's parameters): RESEED_STORE (s3://bucket/prefix or an absolute folder), RESEED_S3_ENDPOINT
(a local S3 endpoint; empty for AWS), RESEED_SSE (AES256 or aws:kms), RESEED_SSE_KMS_KEY_ID,
RESEED_COMPRESSION (auto: zstd when installed, else gzip; zstd; gzip), RESEED_ZSTD_LEVEL (1..19),
RESEED_GZIP_LEVEL (1..9), RESEED_COMPRESS_THREADS (default: one per CPU, at most 8). Credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN,
else the instance role through IMDSv2. Region: AWS_REGION, AWS_DEFAULT_REGION, else IMDSv2.

Progress: KEY.progress.json (put) or KEY.restore-progress.json (get) is rewritten every few seconds
with the bytes so far, so that the orchestrating function can report rate and ETA.
"""
import collections
import concurrent.futures
import datetime
import hashlib
import hmac
import http.client
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
import zlib

CHUNK = 1 << 20
PART_BASE = 16 << 20
MEMBER = 8 << 20
UPLOADS = 2
PROGRESS_EVERY_S = 5.0
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GZIP_MAGIC = b"\x1f\x8b"
ABORT = object()
KEY_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.=-]{0,127}(/[A-Za-z0-9_][A-Za-z0-9_.=-]{0,127}){0,15}$")


def fail(message, code=1):
    sys.stderr.write("object-stream: %s\n" % message)
    sys.exit(code)


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# --------------------------------------------------------------------------------------------------
# Credentials and signing
# --------------------------------------------------------------------------------------------------
def imds(path, token=None, method="GET"):
    conn = http.client.HTTPConnection("169.254.169.254", 80, timeout=3)
    headers = {"X-aws-ec2-metadata-token-ttl-seconds": "300"} if method == "PUT" else {}
    if token:
        headers["X-aws-ec2-metadata-token"] = token
    conn.request(method, path, headers=headers)
    resp = conn.getresponse()
    body = resp.read().decode()
    if resp.status != 200:
        raise RuntimeError("IMDS %s: HTTP %d" % (path, resp.status))
    return body


class Credentials:
    def __init__(self):
        self.expires = 0.0
        self.key = self.secret = self.token = None
        self.region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or ""
        self.refresh()

    def refresh(self):
        if os.environ.get("AWS_ACCESS_KEY_ID") and os.environ.get("AWS_SECRET_ACCESS_KEY"):
            self.key = os.environ["AWS_ACCESS_KEY_ID"]
            self.secret = os.environ["AWS_SECRET_ACCESS_KEY"]
            self.token = os.environ.get("AWS_SESSION_TOKEN") or None
            self.expires = float("inf")
            if not self.region:
                self.region = "us-east-1"
            return
        token = imds("/latest/api/token", method="PUT")
        if not self.region:
            self.region = imds("/latest/meta-data/placement/region", token)
        role = imds("/latest/meta-data/iam/security-credentials/", token).split("\n")[0].strip()
        data = json.loads(imds("/latest/meta-data/iam/security-credentials/" + role, token))
        self.key, self.secret, self.token = data["AccessKeyId"], data["SecretAccessKey"], data["Token"]
        exp = datetime.datetime.strptime(data["Expiration"], "%Y-%m-%dT%H:%M:%SZ")
        self.expires = exp.replace(tzinfo=datetime.timezone.utc).timestamp() - 300

    def current(self):
        if time.time() > self.expires:
            self.refresh()
        return self


def quote(s, safe="-_.~"):
    return urllib.parse.quote(s, safe=safe)


def hmac256(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


class S3:
    def __init__(self, bucket, prefix):
        self.bucket = bucket
        self.prefix = prefix
        self.creds = Credentials()
        endpoint = os.environ.get("RESEED_S3_ENDPOINT", "")
        if endpoint:
            u = urllib.parse.urlsplit(endpoint)
            self.scheme, self.host, self.path_style = u.scheme, u.netloc, True
        else:
            region = self.creds.region
            self.scheme, self.host, self.path_style = "https", "%s.s3.%s.amazonaws.com" % (bucket, region), False

    def full_key(self, key):
        return "%s/%s" % (self.prefix, key) if self.prefix else key

    def request(self, method, key, query=None, body=b"", headers=None, stream=False):
        """One signed request; returns the response (read or streaming). Retries transient failures."""
        query = query or {}
        path = "/" + quote(self.full_key(key), safe="/-_.~")
        if self.path_style:
            path = "/" + self.bucket + path
        for attempt in range(6):
            creds = self.creds.current()
            amz_date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            payload_hash = hashlib.sha256(body).hexdigest()
            h = {"host": self.host, "x-amz-date": amz_date, "x-amz-content-sha256": payload_hash}
            if creds.token:
                h["x-amz-security-token"] = creds.token
            for k, v in (headers or {}).items():
                h[k.lower()] = v
            signed = sorted(h)
            canonical_query = "&".join(
                "%s=%s" % (quote(k), quote(v)) for k, v in sorted(query.items())
            )
            canonical = "\n".join([
                method, path, canonical_query,
                "".join("%s:%s\n" % (k, h[k].strip()) for k in signed),
                ";".join(signed), payload_hash,
            ])
            scope = "%s/%s/s3/aws4_request" % (amz_date[:8], creds.region)
            to_sign = "\n".join([
                "AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()
            ])
            k = hmac256(("AWS4" + creds.secret).encode(), amz_date[:8])
            k = hmac256(hmac256(hmac256(k, creds.region), "s3"), "aws4_request")
            sig = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
            h["authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
                creds.key, scope, ";".join(signed), sig)
            conn_cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
            try:
                conn = conn_cls(self.host, timeout=120)
                conn.request(method, path + ("?" + canonical_query if canonical_query else ""), body=body,
                             headers=h)
                resp = conn.getresponse()
                if resp.status >= 500 or resp.status == 429:
                    resp.read()
                    raise RuntimeError("HTTP %d" % resp.status)
                if resp.status >= 300:
                    detail = resp.read().decode(errors="replace")[:500]
                    fail("%s %s: HTTP %d %s" % (method, key, resp.status, detail))
                if stream:
                    return resp
                data = resp.read()
                conn.close()
                return data
            except (OSError, http.client.HTTPException, RuntimeError) as error:
                if attempt == 5:
                    fail("%s %s failed after retries: %s" % (method, key, error))
                time.sleep(min(30, 0.5 * 2 ** attempt))
        return None

    def put_small(self, key, data):
        self.request("PUT", key, body=data, headers={"content-type": "application/json"})

    def upload(self, key, parts, content_type):
        """Multipart upload of the byte strings `parts` yields, UPLOADS parts at a time; aborted on failure."""
        sse = sse_headers()
        out = self.request("POST", key, {"uploads": ""}, headers=dict(sse, **{"content-type": content_type}))
        m = re.search(rb"<UploadId>([^<]+)</UploadId>", out)
        if not m:
            fail("CreateMultipartUpload returned no UploadId")
        upload_id = m.group(1).decode()
        etags = {}

        def send(number, data):
            resp = self.request("PUT", key, {"partNumber": str(number), "uploadId": upload_id}, body=data,
                                stream=True)
            etag = resp.getheader("ETag")
            resp.read()
            return number, etag

        def settle(futures, when):
            done, running = concurrent.futures.wait(futures, return_when=when)
            for future in done:
                number, etag = future.result()  # re-raises a part's failure (SystemExit from fail() too)
                etags[number] = etag
            return running

        try:
            # While one part waits for the store's answer, the next is on the wire.
            with concurrent.futures.ThreadPoolExecutor(max_workers=UPLOADS) as pool:
                running = set()
                for number, data in enumerate(parts, start=1):
                    running.add(pool.submit(send, number, data))
                    if len(running) >= UPLOADS:
                        running = settle(running, concurrent.futures.FIRST_COMPLETED)
                settle(running, concurrent.futures.ALL_COMPLETED)
            xml = "<CompleteMultipartUpload>%s</CompleteMultipartUpload>" % "".join(
                "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>" % (n, etags[n]) for n in sorted(etags))
            self.request("POST", key, {"uploadId": upload_id}, body=xml.encode())
        except BaseException:
            try:
                self.request("DELETE", key, {"uploadId": upload_id})
            except BaseException:
                sys.stderr.write("object-stream: could not abort the multipart upload of %s\n" % key)
            raise

    def open(self, key):
        return self.request("GET", key, stream=True)


def sse_headers():
    mode = os.environ.get("RESEED_SSE", "AES256")
    if mode == "none":
        return {}
    h = {"x-amz-server-side-encryption": mode}
    if mode == "aws:kms" and os.environ.get("RESEED_SSE_KMS_KEY_ID"):
        h["x-amz-server-side-encryption-aws-kms-key-id"] = os.environ["RESEED_SSE_KMS_KEY_ID"]
    return h


class Folder:
    """A local folder laid out like functions/storage/folder-store.ts: a key is a relative path."""

    def __init__(self, root):
        self.root = root

    def path(self, key):
        return os.path.join(self.root, *key.split("/"))

    def write_atomic(self, key, chunks):
        target = self.path(key)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        temp = "%s.part-%d" % (target, os.getpid())
        try:
            with open(temp, "wb") as f:
                for data in chunks:
                    f.write(data)
            os.rename(temp, target)
        except BaseException:
            if os.path.exists(temp):
                os.unlink(temp)
            raise

    def put_small(self, key, data):
        self.write_atomic(key, [data])

    def upload(self, key, parts, content_type):
        self.write_atomic(key, parts)

    def open(self, key):
        try:
            return open(self.path(key), "rb")
        except OSError as error:
            fail("cannot read %s: %s" % (key, error))
        return None


def open_store():
    url = os.environ.get("RESEED_STORE", "")
    m = re.match(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/?(.*)$", url)
    if m:
        return S3(m.group(1), m.group(2).strip("/"))
    if url.startswith("/"):
        return Folder(url)
    return fail("RESEED_STORE must be s3://bucket/prefix or an absolute folder", 2)


# --------------------------------------------------------------------------------------------------
# Progress
# --------------------------------------------------------------------------------------------------
class Progress:
    def __init__(self, store, key, stage, expected):
        self.store, self.key, self.stage, self.expected = store, key, stage, expected
        self.raw = self.stored = 0
        self.started = now_iso()
        self.t0 = time.time()
        self.last = 0.0

    def write(self, done=False, force=False):
        t = time.time()
        if not force and t - self.last < PROGRESS_EVERY_S:
            return
        self.last = t
        record = {
            "schema": "reseed-progress/1", "stage": self.stage, "rawBytes": self.raw,
            "storedBytes": self.stored, "expectedBytes": self.expected, "startedAt": self.started,
            "updatedAt": now_iso(), "elapsedMs": int((t - self.t0) * 1000), "done": done,
        }
        try:
            self.store.put_small(self.key, (json.dumps(record) + "\n").encode())
        except SystemExit:
            # A progress record that cannot be written never fails the backup itself.
            sys.stderr.write("object-stream: progress record not written\n")


# --------------------------------------------------------------------------------------------------
# put / get
# --------------------------------------------------------------------------------------------------
def compress_threads():
    """RESEED_COMPRESS_THREADS, else one per CPU (at most 8)."""
    setting = os.environ.get("RESEED_COMPRESS_THREADS", "")
    if setting.isdigit() and int(setting) > 0:
        return min(int(setting), 16)
    return max(1, min(os.cpu_count() or 1, 8))


def codec():
    """The backup's compression: RESEED_COMPRESSION auto (zstd when installed, else gzip), zstd or gzip."""
    wanted = os.environ.get("RESEED_COMPRESSION", "auto") or "auto"
    if wanted not in ("auto", "zstd", "gzip"):
        fail("RESEED_COMPRESSION must be auto, zstd or gzip", 2)
    if wanted == "auto":
        return "zstd" if shutil.which("zstd") else "gzip"
    if wanted == "zstd" and not shutil.which("zstd"):
        fail("RESEED_COMPRESSION=zstd but the zstd command is not installed", 2)
    return wanted


def gzip_member(data, level):
    """One complete gzip member (RFC 1952): concatenated members are one gzip file to every reader."""
    comp = zlib.compressobj(level, zlib.DEFLATED, 31)
    return comp.compress(data) + comp.flush()


def gzip_pieces(stdin, progress, failure):
    """Compressed pieces of stdin: MEMBER-sized pieces, each its own gzip member compressed on one of
    several threads (about 120 MB/s a core at level 1), yielded in order."""
    level = int(os.environ.get("RESEED_GZIP_LEVEL", "1"))
    threads = compress_threads()
    pending = collections.deque()
    piece = bytearray()
    members = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=threads) as pool:
        while not failure:
            data = stdin.read(CHUNK)
            if data:
                progress.raw += len(data)
                piece += data
            if len(piece) >= MEMBER or (not data and (piece or members == 0)):
                pending.append(pool.submit(gzip_member, bytes(piece), level))
                piece = bytearray()
                members += 1
            while pending and (len(pending) > threads or not data):
                yield pending.popleft().result()
            if not data:
                break


def zstd_pieces(stdin, progress, failure):
    """Compressed pieces of stdin from a zstd process (its own -T threads): a feeder thread counts the
    raw bytes and writes them to zstd while this generator reads what zstd writes."""
    level = os.environ.get("RESEED_ZSTD_LEVEL", "1")
    if not re.match(r"^([1-9]|1[0-9])$", level):
        fail("RESEED_ZSTD_LEVEL must be 1 to 19", 2)
    proc = subprocess.Popen(
        ["zstd", "-q", "-c", "-" + level, "-T%d" % compress_threads()],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    feed_error = []

    def feed():
        try:
            while not failure:
                data = stdin.read(CHUNK)
                if not data:
                    break
                progress.raw += len(data)
                proc.stdin.write(data)
        except BaseException as error:  # zstd gone (its exit status tells why), or stdin unreadable
            feed_error.append(error)
        finally:
            try:
                proc.stdin.close()
            except OSError:
                pass

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        while not failure:
            data = proc.stdout.read(4 * CHUNK)
            if not data:
                break
            yield data
    finally:
        if failure:
            proc.kill()
        feeder.join()
        code = proc.wait()
    if not failure and (code != 0 or feed_error):
        fail("zstd failed (exit %d)%s" % (code, ": %s" % feed_error[0] if feed_error else ""))


def put(key, expected):
    store = open_store()
    kind = codec()
    progress = Progress(store, key + ".progress.json", "backup", expected)
    progress.write(force=True)
    # Parts flow through a bounded queue to an uploader thread, so compressing and the network overlap.
    # Memory: the compressor's pieces in flight and at most five parts (two queued, UPLOADS sending,
    # one filling).
    q = queue.Queue(maxsize=2)
    failure = []

    def parts():
        while True:
            item = q.get()
            if item is None:
                return
            if item is ABORT:
                raise RuntimeError("the backup stream failed")
            yield item

    def uploader():
        try:
            store.upload(key, parts(), "application/zstd" if kind == "zstd" else "application/gzip")
        except BaseException as error:  # SystemExit from fail() included
            failure.append(error)
            while q.get() is not None:
                pass

    t = threading.Thread(target=uploader, daemon=True)
    t.start()
    buf = []
    size = 0
    number = 1
    pieces = zstd_pieces if kind == "zstd" else gzip_pieces
    try:
        for piece in pieces(sys.stdin.buffer, progress, failure):
            buf.append(piece)
            size += len(piece)
            # S3 allows 10,000 parts: parts grow by 16 MiB every 1,000 (up to about 880 GB compressed).
            if size >= PART_BASE * (1 + (number - 1) // 1000):
                progress.stored += size
                q.put(b"".join(buf))
                buf, size, number = [], 0, number + 1
                progress.write()
    except BaseException:
        # The compressor failed: the upload is aborted (a partial object must never look complete).
        q.put(ABORT)
        q.put(None)
        t.join()
        raise
    if not failure:
        progress.stored += size
        q.put(b"".join(buf))
    q.put(None)
    t.join()
    if failure:
        fail("upload of %s failed: %s" % (key, failure[0]))
    progress.write(done=True, force=True)
    print(json.dumps({"rawBytes": progress.raw, "storedBytes": progress.stored, "compression": kind}))


def read_exactly_some(body, n):
    """Up to n bytes, fewer only at the end of the object (a socket may return less per read)."""
    data = b""
    while len(data) < n:
        more = body.read(n - len(data))
        if not more:
            break
        data += more
    return data


def gunzip_to(body, first, progress, out):
    """Writes the gzip object's content to out, member after member; fails on a truncated member."""
    decomp = zlib.decompressobj(31)
    inside = False
    data = first
    while True:
        if not data:
            data = body.read(CHUNK)
            if not data:
                break
            progress.stored += len(data)
        while data:
            raw = decomp.decompress(data)
            progress.raw += len(raw)
            out.write(raw)
            inside = not decomp.eof
            data = decomp.unused_data if decomp.eof else b""
            if decomp.eof:
                decomp = zlib.decompressobj(31)
        progress.write()
    return not inside


def unzstd_to(body, first, progress, out):
    """Writes the zstd object's content to out through a zstd process; false when zstd fails (a
    truncated or damaged object)."""
    if not shutil.which("zstd"):
        fail("the backup is zstd-compressed but the zstd command is not installed on this host", 2)
    proc = subprocess.Popen(["zstd", "-d", "-q", "-c"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    feed_error = []

    def feed():
        try:
            data = first
            while data:
                proc.stdin.write(data)
                data = body.read(4 * CHUNK)
                progress.stored += len(data)
        except BaseException as error:
            feed_error.append(error)
        finally:
            try:
                proc.stdin.close()
            except OSError:
                pass

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    while True:
        raw = proc.stdout.read(4 * CHUNK)
        if not raw:
            break
        progress.raw += len(raw)
        out.write(raw)
        progress.write()
    feeder.join()
    code = proc.wait()
    # A broken pipe only means zstd stopped first (a damaged object): its exit status says so.
    if feed_error and not isinstance(feed_error[0], BrokenPipeError):
        fail("reading the object failed: %s" % feed_error[0])
    return code == 0


def get(key):
    store = open_store()
    body = store.open(key)
    total = 0
    if hasattr(body, "getheader"):
        total = int(body.getheader("Content-Length") or 0)
    else:
        total = os.fstat(body.fileno()).st_size
    progress = Progress(store, key + ".restore-progress.json", "restore", total)
    progress.write(force=True)
    out = sys.stdout.buffer
    first = read_exactly_some(body, 4)
    progress.stored += len(first)
    if first.startswith(ZSTD_MAGIC):
        whole = unzstd_to(body, first, progress, out)
    elif not first or first.startswith(GZIP_MAGIC):
        whole = gunzip_to(body, first, progress, out)
    else:
        fail("%s is neither zstd nor gzip" % key)
    out.flush()
    if not whole:
        fail("%s is truncated or damaged (it ends inside a compressed frame)" % key)
    if total and progress.stored != total:
        fail("%s: read %d of %d bytes" % (key, progress.stored, total))
    progress.write(done=True, force=True)


def main(argv):
    if len(argv) < 2 or argv[0] not in ("put", "get") or not KEY_RE.match(argv[1]):
        fail("usage: object-stream.py put KEY EXPECTED_BYTES | get KEY (KEY: letters, digits, _ . = - /)", 2)
    if argv[0] == "put":
        put(argv[1], int(argv[2]) if len(argv) > 2 and argv[2].isdigit() else 0)
    else:
        get(argv[1])


if __name__ == "__main__":
    main(sys.argv[1:])
