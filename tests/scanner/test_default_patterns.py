"""citriage's default pattern library: well-formed, and each pattern wins on its examples.

Every pattern has at least one realistic example line below on which it must be
the best match (the ranking of `citriage.scanner.ranking`), and a handful of
harmless lines must match nothing. Both engines (Hyperscan's prefilter and the
plain `bytes.find` one) must give exactly the matches of running every regex
on every line.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from citriage.scanner import regex_analysis
from citriage.scanner.engine import HAVE_HYPERSCAN, EngineName, Match, PatternSet
from citriage.scanner.logtext import LogText
from citriage.scanner.patterns import Pattern, default_library, validate
from citriage.scanner.ranking import best_match

TAGS = frozenset(
    {
        "flaky",
        "infra",
        "network",
        "timeout",
        "oom",
        "compile",
        "link",
        "test",
        "python",
        "cpp",
        "java",
        "js",
        "go",
        "rust",
        "docker",
        "git",
        "apt",
        "pip",
        "conda",
        "npm",
        "crash",
        "lint",
    }
)
CREATED = datetime(2026, 11, 22, tzinfo=UTC)

LIBRARY = default_library()
BY_ID = {p.id: p for p in LIBRARY}

# (pattern id expected to be the best match, a log line)
EXAMPLES: list[tuple[int, str]] = [
    (1, "SyntaxError: invalid syntax"),
    (1, "E     IndentationError: unexpected indent"),
    (2, "ModuleNotFoundError: No module named 'torchvision.ops'"),
    (
        3,
        "ImportError: cannot import name 'soft_unicode' from 'markupsafe' "
        "(/opt/venv/lib/python3.11/site-packages/markupsafe/__init__.py)",
    ),
    (4, "ImportError: attempted relative import with no known parent package"),
    (5, "ImportError: libGL.so.1: cannot open shared object file: No such file or directory"),
    (
        6,
        "ImportError: "
        "/opt/conda/lib/python3.10/site-packages/torch/lib/libtorch_cuda.so: undefined "
        "symbol: cudaGraphDebugDotPrint",
    ),
    (7, "E       AssertionError: expected 3 rows, got 2"),
    (8, "MemoryError: std::bad_alloc"),
    (
        9,
        "numpy.core._exceptions._ArrayMemoryError: Unable to allocate 7.45 GiB for an "
        "array with shape (1000000, 1000) and data type float64",
    ),
    (10, "ValueError: invalid literal for int() with base 10: 'abc'"),
    (11, "Traceback (most recent call last):"),
    (12, "Fatal Python error: Aborted"),
    (
        13,
        "FAILED tests/test_io.py::test_roundtrip[utf-16] - UnicodeDecodeError: "
        "'utf-16-le' codec can't decode bytes in position 0-1",
    ),
    (
        14,
        "ERROR tests/test_db.py::test_migrations - psycopg2.OperationalError: could "
        "not translate host name",
    ),
    (15, "_________________ ERROR collecting tests/unit/test_parser.py _________________"),
    (16, "=========================== short test summary info ============================"),
    (
        17,
        "============ 2 failed, 431 passed, 12 skipped, 3 warnings in 87.20s (0:01:27) "
        "============",
    ),
    (17, "=================== 1 error in 0.52s ==================="),
    (18, "E   Failed: Timeout >900.0s"),
    (19, "FAIL: test_parse_empty (tests.test_config.ConfigTest.test_parse_empty)"),
    (20, "ERROR: test_download (tests.test_fetch.FetchTest.test_download)"),
    (21, "FAILED (failures=1, errors=2)"),
    (22, "[  FAILED  ] TensorTest.ReshapeKeepsStrides (3 ms)"),
    (22, "[  FAILED  ] Shapes/BroadcastTest.Matches/2, where GetParam() = 4"),
    (23, "/home/runner/work/proj/src/tensor_test.cc:118: Failure"),
    (24, " 2 FAILED TESTS"),
    (25, "src/parser.cpp:214:17: error: 'stoi' is not a member of 'std'"),
    (26, "src/codec.c:9:10: fatal error: zlib.h: No such file or directory"),
    (27, "compilation terminated."),
    (28, "C:\\a\\proj\\src\\main.cpp(42): error C2065: 'nullptr_t': undeclared identifier"),
    (
        29,
        'main.obj : error LNK2019: unresolved external symbol "void __cdecl '
        'init(void)" (?init@@YAXXZ) referenced in function main',
    ),
    (30, "app.cpp:(.text+0x2a): undefined reference to `Logger::flush()'"),
    (31, "collect2: error: ld returned 1 exit status"),
    (32, "clang: error: linker command failed with exit code 1 (use -v to see invocation)"),
    (33, "/usr/bin/ld: cannot find -lssl: No such file or directory"),
    (
        34,
        "/usr/bin/ld: lib/util.o:(.bss+0x0): multiple definition of `g_verbose'; "
        "src/main.o:(.bss+0x0): first defined here",
    ),
    (35, "CMake Error at CMakeLists.txt:27 (find_package):"),
    (
        36,
        'CMake Error: The source directory "/work/build" does not appear to contain '
        "CMakeLists.txt.",
    ),
    (
        37,
        "  Could NOT find OpenSSL, try to set the path to OpenSSL root folder in the "
        "system variable OPENSSL_ROOT_DIR (missing: OPENSSL_CRYPTO_LIBRARY "
        "OPENSSL_INCLUDE_DIR)",
    ),
    (38, "-- Configuring incomplete, errors occurred!"),
    (
        39,
        "make[2]: *** [src/CMakeFiles/core.dir/build.make:90: "
        "src/CMakeFiles/core.dir/parser.cpp.o] Error 1",
    ),
    (39, "make: *** [all] Error 2"),
    (40, "make: *** No rule to make target 'config.h', needed by 'main.o'.  Stop."),
    (41, "ninja: build stopped: subcommand failed."),
    (42, "FAILED: src/CMakeFiles/core.dir/parser.cpp.o "),
    (
        43,
        "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.50 GiB. GPU 0 "
        "has a total capacity of 22.05 GiB of which 312.00 MiB is free.",
    ),
    (44, "RuntimeError: CUDA error: out of memory"),
    (45, "RuntimeError: CUDA error: an illegal memory access was encountered"),
    (
        46,
        "[rank3]:[E ProcessGroupNCCL.cpp:563] [Rank 3] Watchdog caught collective "
        "operation timeout: WorkNCCL(SeqNum=4021, OpType=ALLREDUCE, NumelIn=1, "
        "NumelOut=1, Timeout(ms)=600000) ran for 600321 milliseconds before timing out.",
    ),
    (
        47,
        "torch.distributed.DistBackendError: NCCL error in: "
        "/opt/pytorch/torch/csrc/distributed/c10d/NCCLUtils.hpp:275, unhandled system "
        "error (run with NCCL_DEBUG=INFO for details)",
    ),
    (
        48,
        "[ 8123.441201] Out of memory: Killed process 48213 (python3) "
        "total-vm:61234512kB, anon-rss:31200884kB",
    ),
    (49, "Killed"),
    (
        50,
        "/home/runner/work/_temp/3f1c.sh: line 2:  4123 Killed                  python "
        "-m pytest tests/ -n 8",
    ),
    (51, "##[error]Process completed with exit code 137."),
    (51, "command terminated with exit code 137"),
    (52, "OSError: [Errno 12] Cannot allocate memory"),
    (53, "java.lang.OutOfMemoryError: Java heap space"),
    (53, 'Exception in thread "main" java.lang.OutOfMemoryError: GC overhead limit exceeded'),
    (54, "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory"),
    (55, "fatal error: runtime: out of memory"),
    (56, "memory allocation of 4294967296 bytes failed"),
    (57, "c++: fatal error: Killed signal terminated program cc1plus"),
    (58, "      Reason:       OOMKilled"),
    (59, "Segmentation fault (core dumped)"),
    (60, "Aborted (core dumped)"),
    (61, "[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4a2f1c]"),
    (
        62,
        "SUMMARY: AddressSanitizer: heap-use-after-free /src/buffer.cc:88:12 in "
        "Buffer::append(char const*, unsigned long)",
    ),
    (
        63,
        "==18231==ERROR: AddressSanitizer: heap-buffer-overflow on address "
        "0x602000000034 at pc 0x55d1c2 bp 0x7ffd10 sp 0x7ffd08",
    ),
    (
        64,
        "src/hash.c:41:23: runtime error: left shift of 1 by 31 places cannot be "
        "represented in type 'int'",
    ),
    (65, "terminate called after throwing an instance of 'std::out_of_range'"),
    (66, "Illegal instruction (core dumped)"),
    (67, "Process 'python.exe' exited with code 0xC0000005"),
    (68, "WARNING: DATA RACE"),
    (
        69,
        "[ERROR] Failed to execute goal "
        "org.apache.maven.plugins:maven-enforcer-plugin:3.4.1:enforce "
        "(enforce-versions) on project api-server: Some Enforcer rules have failed.",
    ),
    (
        70,
        "[ERROR] Failed to execute goal "
        "org.apache.maven.plugins:maven-surefire-plugin:3.2.5:test (default-test) on "
        "project core: There are test failures.",
    ),
    (
        71,
        "[ERROR] Failed to execute goal "
        "org.apache.maven.plugins:maven-compiler-plugin:3.11.0:compile "
        "(default-compile) on project core: Compilation failure",
    ),
    (72, "[INFO] BUILD FAILURE"),
    (
        73,
        "[ERROR] Tests run: 14, Failures: 2, Errors: 0, Skipped: 1, Time elapsed: "
        "3.218 s <<< FAILURE! -- in com.acme.billing.InvoiceServiceTest",
    ),
    (
        73,
        "Tests run: 3, Failures: 0, Errors: 1, Skipped: 0, Time elapsed: 0.5 s <<< "
        "ERROR! - in com.acme.web.RouterTest",
    ),
    (74, "[ERROR] Tests run: 512, Failures: 2, Errors: 1, Skipped: 7"),
    (
        75,
        "[ERROR] com.acme.billing.InvoiceServiceTest.roundsHalfUp -- Time elapsed: "
        "0.041 s <<< FAILURE!",
    ),
    (
        75,
        "[ERROR] roundsHalfUp(com.acme.billing.InvoiceServiceTest)  Time elapsed: "
        "0.041 s  <<< ERROR!",
    ),
    (76, "FAILURE: Build failed with an exception."),
    (77, "Execution failed for task ':app:compileDebugKotlin'."),
    (
        78,
        "> There were failing tests. See the report at: "
        "file:///home/runner/work/app/build/reports/tests/test/index.html",
    ),
    (79, "InvoiceServiceTest > roundsHalfUp() FAILED"),
    (
        80,
        "[ERROR] /home/runner/work/app/src/main/java/com/acme/Invoice.java:[57,21] "
        "cannot find symbol",
    ),
    (81, "src/main/java/com/acme/Invoice.java:57: error: cannot find symbol"),
    (
        82,
        "[ERROR] Failed to execute goal on project web: Could not resolve dependencies "
        "for project com.acme:web:war:2.4.0-SNAPSHOT: The following artifacts could "
        "not be resolved: com.acme:common:jar:2.4.0-SNAPSHOT (absent)",
    ),
    (83, "   > Could not resolve all files for configuration ':app:debugRuntimeClasspath'."),
    (
        84,
        "[ERROR] Failed to execute goal on project web: Could not transfer artifact "
        "org.slf4j:slf4j-api:pom:2.0.9 from/to central "
        "(https://repo.maven.apache.org/maven2): Transfer failed for "
        "https://repo.maven.apache.org/maven2/org/slf4j/slf4j-api/2.0.9/slf4j-api-2.0.9"
        ".pom",
    ),
    (85, 'Exception in thread "main" java.lang.IllegalStateException: config not loaded'),
    (86, "Caused by: java.net.BindException: Address already in use"),
    (87, "npm ERR! code ELIFECYCLE"),
    (87, "npm error code E401"),
    (88, "npm ERR! code ECONNRESET"),
    (88, "npm error code ETIMEDOUT"),
    (
        89,
        "npm ERR! network request to https://registry.npmjs.org/typescript failed, "
        "reason: connect ETIMEDOUT 104.16.24.35:443",
    ),
    (90, "npm ERR! 404 Not Found - GET https://registry.npmjs.org/@acme%2fui-kit - Not found"),
    (91, "npm ERR! ERESOLVE unable to resolve dependency tree"),
    (92, " ERR_PNPM_NO_MATCHING_VERSION  No matching version found for react-dom@^19.3.0"),
    (
        93,
        " ERR_PNPM_META_FETCH_FAIL  GET https://registry.npmjs.org/lodash: Value of "
        '"this" must be of type URLSearchParams',
    ),
    (
        93,
        " ERR_PNPM_FETCH_503  GET https://registry.npmjs.org/vite/-/vite-5.4.8.tgz: "
        "Service Unavailable - 503",
    ),
    (
        94,
        ' ERR_PNPM_OUTDATED_LOCKFILE  Cannot install with "frozen-lockfile" because '
        "pnpm-lock.yaml is not up to date with package.json",
    ),
    (95, "error Your lockfile needs to be updated, but yarn was run with `--frozen-lockfile`."),
    (
        96,
        "error An unexpected error occurred: "
        '"https://registry.yarnpkg.com/webpack/-/webpack-5.89.0.tgz: ESOCKETTIMEDOUT".',
    ),
    (97, "  ● Test suite failed to run"),
    (98, "Tests:       3 failed, 1 skipped, 208 passed, 212 total"),
    (99, "Test Suites: 2 failed, 41 passed, 43 total"),
    (100, "  ● CartReducer › applies discount codes case-insensitively"),
    (101, "FAIL src/components/Cart.test.tsx (5.2 s)"),
    (101, " FAIL  src/utils/date.spec.ts > formatRange > handles DST"),
    (102, "  3 failing"),
    (
        103,
        "src/api/client.ts(48,7): error TS2322: Type 'string' is not assignable to type 'number'.",
    ),
    (
        103,
        "src/api/client.ts:48:7 - error TS2339: Property 'retries' does not exist on "
        "type 'Options'.",
    ),
    (104, "✖ 7 problems (5 errors, 2 warnings)"),
    (105, "Error: Cannot find module '@babel/preset-env'"),
    (106, "Error: Process completed with exit code 1."),
    (
        107,
        'error An unexpected error occurred: "EACCES: permission denied, mkdir '
        "'/usr/local/share/.cache/yarn'\".",
    ),
    (108, "app/models/user.py:3:1: F401 [*] `os` imported but unused"),
    (109, "would reformat /home/runner/work/app/app/views.py"),
    (110, "Found 4 errors in 2 files (checked 118 source files)"),
    (
        111,
        'app/services/billing.py:88: error: Argument 1 to "charge" has incompatible '
        'type "str"; expected "Decimal"  [arg-type]',
    ),
    (112, "ruff.....................................................................Failed"),
    (113, "Found 12 errors."),
    (114, "--- FAIL: TestCache_Evict (0.02s)"),
    (114, "    --- FAIL: TestCache_Evict/ttl_expired (0.00s)"),
    (115, "FAIL\tgithub.com/acme/store/cache\t0.314s"),
    (115, "FAIL\tgithub.com/acme/store/api [build failed]"),
    (116, "panic: runtime error: invalid memory address or nil pointer dereference"),
    (117, "panic: test timed out after 10m0s"),
    (
        118,
        "go: github.com/acme/lib@v1.4.2: Get "
        '"https://proxy.golang.org/github.com/acme/lib/@v/v1.4.2.mod": dial tcp '
        "142.250.72.17:443: i/o timeout",
    ),
    (
        118,
        "go: verifying module: golang.org/x/sys@v0.21.0: Get "
        '"https://sum.golang.org/lookup/golang.org/x/sys@v0.21.0": unexpected EOF',
    ),
    (119, "internal/store/cache.go:42:9: undefined: evictOldest"),
    (120, "    cache_test.go:57: got 3 entries, want 2"),
    (121, "error[E0425]: cannot find value `max_len` in this scope"),
    (122, "error: could not compile `parser` (lib) due to 2 previous errors"),
    (
        123,
        "test result: FAILED. 41 passed; 2 failed; 0 ignored; 0 measured; 0 filtered "
        "out; finished in 0.08s",
    ),
    (124, "thread 'tokenizer::tests::handles_unicode' panicked at src/tokenizer.rs:212:9:"),
    (125, "test tokenizer::tests::handles_unicode ... FAILED"),
    (126, "error: linking with `cc` failed: exit status: 1"),
    (
        127,
        "warning: spurious network error (2 tries remaining): [28] Timeout was reached "
        "(Operation timed out after 30000 milliseconds with 0 bytes received)",
    ),
    (128, "socket.gaierror: [Errno -3] Temporary failure in name resolution"),
    (129, "curl: (6) Could not resolve host: github.com"),
    (130, "socket.gaierror: [Errno -2] Name or service not known"),
    (131, "Error: getaddrinfo EAI_AGAIN registry.npmjs.org"),
    (
        132,
        'Error response from daemon: Get "https://registry-1.docker.io/v2/": dial tcp: '
        "lookup registry-1.docker.io on 127.0.0.53:53: no such host",
    ),
    (133, "ConnectionResetError: [Errno 104] Connection reset by peer"),
    (134, "ssh: connect to host github.com port 22: Connection timed out"),
    (
        135,
        'psycopg2.OperationalError: connection to server at "localhost" (127.0.0.1), '
        "port 5432 failed: Connection refused",
    ),
    (136, 'Error response from daemon: Get "https://ghcr.io/v2/": net/http: TLS handshake timeout'),
    (
        137,
        "ssl.SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate "
        "verify failed: unable to get local issuer certificate (_ssl.c:1006)",
    ),
    (
        138,
        "fatal: unable to access 'https://gitlab.example.com/infra/tools.git/': "
        "gnutls_handshake() failed: The TLS connection was non-properly terminated.",
    ),
    (
        139,
        "curl: (35) OpenSSL SSL_connect: SSL_ERROR_SYSCALL in connection to "
        "objects.githubusercontent.com:443",
    ),
    (140, "npm ERR! 503 Service Unavailable - GET https://registry.npmjs.org/react"),
    (140, "<head><title>504 Gateway Time-out</title></head>"),
    (141, "urllib.error.HTTPError: HTTP Error 503: Service Unavailable"),
    (
        141,
        "ERROR: HTTP error 502 while getting "
        "https://files.pythonhosted.org/packages/numpy-2.1.0.tar.gz",
    ),
    (142, "error: The requested URL returned error: 502"),
    (143, "curl: (22) The requested URL returned error: 404"),
    (
        144,
        "curl: (7) Failed to connect to localhost port 8080 after 0 ms: Couldn't connect to server",
    ),
    (145, "connect: Network is unreachable"),
    (
        146,
        "requests.exceptions.ProxyError: HTTPSConnectionPool(host='pypi.org', "
        "port=443): Max retries exceeded with url: /simple/ (Caused by "
        "ProxyError('Unable to connect to proxy'))",
    ),
    (147, "read tcp 10.1.0.4:51234->140.82.112.3:443: i/o timeout"),
    (148, 'Get "https://index.docker.io/v2/": dial tcp 54.236.113.205:443: i/o timeout'),
    (
        149,
        'Error response from daemon: Get "https://registry-1.docker.io/v2/": net/http: '
        "request canceled while waiting for connection (Client.Timeout exceeded while "
        "awaiting headers)",
    ),
    (
        150,
        "pip._vendor.urllib3.exceptions.ReadTimeoutError: "
        "HTTPSConnectionPool(host='files.pythonhosted.org', port=443): Read timed out.",
    ),
    (
        151,
        "ERROR: Could not find a version that satisfies the requirement torch==2.9.1 "
        "(from versions: 2.2.0, 2.2.1)",
    ),
    (152, "ERROR: No matching distribution found for torch==2.9.1"),
    (153, "  ERROR: Failed building wheel for psycopg2"),
    (154, "  error: subprocess-exited-with-error"),
    (
        155,
        "ERROR: ResolutionImpossible: for help visit "
        "https://pip.pypa.io/en/latest/topics/dependency-resolution/#dealing-with-depen"
        "dency-conflicts",
    ),
    (
        156,
        "ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE. If "
        "you have updated the package versions, please update the hashes.",
    ),
    (
        157,
        "WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, "
        "status=None)) after connection broken by 'ProtocolError('Connection "
        "aborted.', RemoteDisconnected('Remote end closed connection without "
        "response'))': /simple/numpy/",
    ),
    (
        158,
        "CondaHTTPError: HTTP 000 CONNECTION FAILED for url "
        "<https://conda.anaconda.org/conda-forge/linux-64/repodata.json>",
    ),
    (159, "PackagesNotFoundError: The following packages are not available from current channels:"),
    (160, "LibMambaUnsatisfiableError: Encountered problems while solving:"),
    (
        161,
        "E: Failed to fetch "
        "http://azure.archive.ubuntu.com/ubuntu/pool/main/o/openssl/libssl3_3.0.2-0ubun"
        "tu1.15_amd64.deb  404  Not Found [IP: 52.147.219.192 80]",
    ),
    (
        162,
        "W: Failed to fetch http://archive.ubuntu.com/ubuntu/dists/jammy/InRelease  "
        "Temporary failure resolving 'archive.ubuntu.com'",
    ),
    (
        163,
        "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 2214 "
        "(unattended-upgr)",
    ),
    (164, "E: Unable to locate package libfoo-dev"),
    (
        165,
        "E: Failed to fetch "
        "store:/var/lib/apt/lists/partial/archive.ubuntu.com_ubuntu_dists_jammy-updates"
        "_main_binary-amd64_Packages.xz  Hash Sum mismatch",
    ),
    (
        166,
        "E: Some index files failed to download. They have been ignored, or old ones used instead.",
    ),
    (167, "E: Package 'python3.8-dev' has no installation candidate"),
    (168, "E: Unable to correct problems, you have held broken packages."),
    (
        169,
        "Error response from daemon: toomanyrequests: You have reached your pull rate "
        "limit. You may increase the limit by authenticating and upgrading: "
        "https://www.docker.com/increase-rate-limit",
    ),
    (170, "Error response from daemon: manifest unknown: manifest unknown"),
    (
        171,
        "Error response from daemon: manifest for ghcr.io/acme/builder:sha-3f2c1a not "
        "found: manifest unknown: manifest unknown",
    ),
    (
        172,
        "Error: error pulling image configuration: download failed after attempts=6: "
        "unexpected EOF",
    ),
    (173, "Error response from daemon: No such container: build-cache"),
    (
        174,
        "Error response from daemon: pull access denied for acme/private-base, "
        "repository does not exist or may require 'docker login': denied: requested "
        "access to the resource is denied",
    ),
    (
        175,
        'ERROR: failed to solve: process "/bin/sh -c pip install -r requirements.txt" '
        "did not complete successfully: exit code: 1",
    ),
    (176, "The command '/bin/sh -c make -j4' returned a non-zero code: 2"),
    (
        177,
        "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the "
        "docker daemon running?",
    ),
    (178, "Error response from daemon: received unexpected HTTP status: 503 Service Unavailable"),
    (
        179,
        "fatal: unable to access 'https://github.com/acme/app.git/': The requested URL "
        "returned error: 403",
    ),
    (180, "fatal: the remote end hung up unexpectedly"),
    (180, "fatal: The remote end hung up unexpectedly"),
    (
        181,
        "fatal: clone of 'https://github.com/acme/third_party_fmt.git' into submodule "
        "path '/home/runner/work/app/app/third_party/fmt' failed",
    ),
    (182, "fatal: early EOF"),
    (183, "error: RPC failed; curl 92 HTTP/2 stream 5 was not closed cleanly: CANCEL (err 8)"),
    (184, "fetch-pack: unexpected disconnect while reading sideband packet"),
    (185, "fatal: reference is not a tree: 9c1f2e7d4b3a5c6e8f0a1b2c3d4e5f6a7b8c9d0e"),
    (186, "fatal: could not read Username for 'https://github.com': No such device or address"),
    (187, "CONFLICT (content): Merge conflict in src/config.ts"),
    (
        188,
        "##[error]The runner has received a shutdown signal. This can happen when the "
        "runner service is stopped, or a manually started runner is canceled.",
    ),
    (
        189,
        "##[error]The self-hosted runner: ci-gpu-07 lost communication with the "
        "server. Verify the machine is running and has a healthy network connection.",
    ),
    (190, "##[error]The operation was canceled."),
    (191, "OSError: [Errno 28] No space left on device: '/tmp/pip-build-env-x1'"),
    (191, "npm ERR! nospc ENOSPC: no space left on device, write"),
    (192, "Too long with no output (exceeded 10m0s): context deadline exceeded"),
    (
        193,
        "##[error]The job running on runner GitHub Actions 4 has exceeded the maximum "
        "execution time of 360 minutes.",
    ),
    (194, "Error: failed to fetch attestation: context deadline exceeded"),
    (195, "subprocess.TimeoutExpired: Command '['make', 'check']' timed out after 1800 seconds"),
    (196, "Exited with status -1 (agent lost)"),
    (
        197,
        "ERROR: Job failed (system failure): prepare environment: waiting for pod "
        "running: pod status is Failed",
    ),
    (198, "ERROR: Job failed: execution took longer than 1h0m0s seconds"),
    (199, "Agent linux-builder-12 went offline during the build"),
    (200, "Build timed out (after 120 minutes). Marking the build as failed."),
    (
        201,
        "No output has been received in the last 10m0s, this potentially indicates a "
        "stalled build or something wrong with the build itself.",
    ),
    (202, "The job exceeded the maximum time limit for jobs, and has been terminated."),
    (
        203,
        "/home/runner/work/app/src/Api/Program.cs(14,9): error CS0103: The name "
        "'builder' does not exist in the current context "
        "[/home/runner/work/app/src/Api/Api.csproj]",
    ),
    (
        204,
        "Failed!  - Failed:     2, Passed:   318, Skipped:     0, Total:   320, "
        "Duration: 4 s - Api.Tests.dll (net8.0)",
    ),
    (205, "lld-link: error: undefined symbol: __declspec(dllimport) PropVariantCompareEx"),
    (205, "ld.lld: error: undefined symbol: zlib_inflate_init"),
    (205, "          = note: rust-lld: error: undefined symbol: __rust_probestack"),
    (
        206,
        "21:30:46  WARNING -  TEST-UNEXPECTED-FAIL | dom/canvas/test/test_webgl.html | Test "
        "timed out.",
    ),
    (
        206,
        "REFTEST TEST-UNEXPECTED-FAIL | layout/reftests/a-1.html == layout/reftests/a-1-ref.html"
        " | image comparison, max difference: 255, number of differing pixels: 4",
    ),
    (
        207,
        "PROCESS-CRASH | application crashed [@ mozilla::dom::Node::Remove] | "
        "dom/base/test/test_remove.html",
    ),
    (208, "FAIL Bug #69974 (fopen with a long path) [ext/standard/tests/file/bug69974.phpt]"),
]

# Lines from passing jobs: no pattern may match them.
HARMLESS = [
    "TEST-PASS | dom/canvas/test/test_webgl.html | took 312ms",
    "TEST-KNOWN-FAIL | dom/canvas/test/test_webgl.html | expected to fail on this platform",
    "PASS Bug #69975 (fclose) [ext/standard/tests/file/bug69975.phpt]",
    "SKIP Bug #69976 (needs ext/zip) [ext/zip/tests/bug69976.phpt] reason: zip not loaded",
    "All 312 tests passed",
    "Downloading numpy-2.1.0-cp312-cp312-manylinux_2_17_x86_64.whl (16.0 MB)",
    "Successfully installed requests-2.32.3 urllib3-2.2.3",
    "============ 431 passed, 12 skipped in 87.20s (0:01:27) ============",
    "collected 443 items",
    "tests/test_io.py::test_roundtrip[utf-16] PASSED                          [ 12%]",
    "Ran 57 tests in 1.204s",
    "OK (skipped=2)",
    "[       OK ] TensorTest.ReshapeKeepsStrides (3 ms)",
    "[  PASSED  ] 128 tests.",
    "[100%] Built target core",
    "-- Configuring done (2.1s)",
    "[INFO] BUILD SUCCESS",
    "[INFO] Tests run: 42, Failures: 0, Errors: 0, Skipped: 0",
    "BUILD SUCCESSFUL in 1m 12s",
    "added 1312 packages, and audited 1313 packages in 21s",
    "Tests:       212 passed, 212 total",
    "Test Suites: 43 passed, 43 total",
    "go: downloading github.com/stretchr/testify v1.9.0",
    "ok  \tgithub.com/acme/store/cache\t0.314s",
    "--- PASS: TestCache_Evict (0.02s)",
    "   Compiling serde v1.0.210",
    "test result: ok. 41 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out",
    "Reading package lists... Done",
    "Setting up libssl-dev:amd64 (3.0.2-0ubuntu1.15) ...",
    "Status: Downloaded newer image for python:3.12-slim",
    "Receiving objects: 100% (1520/1520), 2.31 MiB | 18.40 MiB/s, done.",
    "Submodule path 'third_party/fmt': checked out 'a0b8a92e3d1532361c2f7feb63babc5c18d00ef2'",
    "Success: no issues found in 118 source files",
    "All checks passed!",
    "ruff.....................................................................Passed",
    "##[group]Run actions/checkout@v4",
    "Post job cleanup.",
]

# Whole excerpts of failing logs: the cause must outrank every symptom around it.
SCENARIOS: list[tuple[int, str]] = [
    (
        205,  # a link-time undefined symbol, not a shared library of another version
        "[1/2] Linking CXX executable bin/app.exe\n"
        "lld-link: error: undefined symbol: PropVariantCompareEx\n"
        ">>> referenced by propsys.cpp:40\n"
        "ninja: build stopped: subcommand failed.",
    ),
    (
        6,  # at load time it is the shared library
        "ImportError: /venv/lib/python3.11/site-packages/torch/lib/libtorch_cpu.so: "
        "undefined symbol: _ZN3c104cuda9SetDeviceEa\n"
        "Error: Process completed with exit code 1.",
    ),
    (
        191,  # disk full, not the make errors that follow
        "[ 42%] Building CXX object src/CMakeFiles/core.dir/parser.cpp.o\n"
        "cc1plus: fatal error: error writing to /tmp/ccQ2x1.s: No space left on device\n"
        "compilation terminated.\n"
        "make[2]: *** [src/CMakeFiles/core.dir/build.make:90: src/CMakeFiles/core.dir/"
        "parser.cpp.o] Error 1\n"
        "make[1]: *** [CMakeFiles/Makefile2:120: src/CMakeFiles/core.dir/all] Error 2\n"
        "make: *** [Makefile:136: all] Error 2\n"
        "Error: Process completed with exit code 2.",
    ),
    (
        43,  # GPU OOM, not the RuntimeError or the failed test
        "Traceback (most recent call last):\n"
        '  File "train.py", line 88, in <module>\n'
        "    loss.backward()\n"
        "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 15.78 GiB "
        "total capacity; 13.10 GiB already allocated)\n"
        "=========================== short test summary info ============================\n"
        "FAILED tests/test_train.py::test_step - RuntimeError: CUDA error: an illegal "
        "memory access was encountered\n"
        "============ 1 failed, 12 passed in 40.02s ============",
    ),
    (
        2,  # the missing module, not the collection error around it
        "_________________ ERROR collecting tests/test_api.py _________________\n"
        "ImportError while importing test module '/w/app/tests/test_api.py'.\n"
        "tests/test_api.py:3: in <module>\n"
        "    import httpx\n"
        "E   ModuleNotFoundError: No module named 'httpx'\n"
        "=========================== short test summary info ============================\n"
        "ERROR tests/test_api.py\n"
        "!!!!!!!!!!!!!!!!!!!! Interrupted: 1 error during collection !!!!!!!!!!!!!!!!!!!!\n"
        "=============================== 1 error in 0.31s ===============================",
    ),
    (
        129,  # DNS, not git's generic "unable to access"
        "Fetching the repository\n"
        "fatal: unable to access 'https://github.com/acme/app/': Could not resolve host: "
        "github.com\n"
        "The process '/usr/bin/git' failed with exit code 128\n"
        "Error: The process '/usr/bin/git' failed with exit code 128",
    ),
    (
        117,  # the test binary's timeout, not the panic or the package failure
        "panic: test timed out after 10m0s\n"
        "running tests:\n"
        "\tTestSync (10m0s)\n"
        "goroutine 33 [running]:\n"
        "FAIL\tgithub.com/acme/sync\t600.021s",
    ),
    (
        97,  # jest could not load the file
        " FAIL  src/app.test.js\n"
        "  ● Test suite failed to run\n"
        "\n"
        "    Cannot find module './config' from 'src/app.test.js'\n"
        "Test Suites: 1 failed, 3 passed, 4 total\n"
        "Tests:       12 passed, 12 total",
    ),
    (
        169,  # registry rate limit, not the daemon's generic error
        "Unable to find image 'node:20' locally\n"
        "docker: Error response from daemon: toomanyrequests: You have reached your pull "
        "rate limit. You may increase the limit by authenticating and upgrading: "
        "https://www.docker.com/increase-rate-limit.\n"
        "See 'docker run --help'.\n"
        "Error: Process completed with exit code 125.",
    ),
    (
        48,  # the kernel's OOM report outranks the shell's "Killed"
        "tests/test_big.py::test_matrix_inverse\n"
        "[ 912.104377] Out of memory: Killed process 2291 (python) total-vm:9123456kB, "
        "anon-rss:8012345kB\n"
        "Killed\n"
        "##[error]Process completed with exit code 137.",
    ),
    (
        188,  # the runner went away; the cancellation is its consequence
        "##[error]The runner has received a shutdown signal. This can happen when the "
        "runner service is stopped, or a manually started runner is canceled.\n"
        "##[error]The operation was canceled.",
    ),
    (
        84,  # Maven could not download, not "Failed to execute goal"
        "[ERROR] Failed to execute goal on project web: Could not resolve dependencies for "
        "project com.acme:web:war:2.4.0: Failed to collect dependencies at "
        "org.slf4j:slf4j-api:jar:2.0.9\n"
        "[ERROR] Could not transfer artifact org.slf4j:slf4j-api:pom:2.0.9 from/to central "
        "(https://repo.maven.apache.org/maven2): Transfer failed\n"
        "[ERROR] -> [Help 1]",
    ),
]


@pytest.fixture(scope="module")
def pattern_set() -> PatternSet:
    return PatternSet(LIBRARY)


def scan(patterns: PatternSet, text: str) -> list[Match]:
    return patterns.scan(LogText.from_text(text))


def best(patterns: PatternSet, text: str) -> Match | None:
    return best_match(scan(patterns, text), pattern_of=lambda i: BY_ID[i])


def reference_matches(text: str) -> list[Match]:
    """What the engine must find: every pattern searched with `re` on every line."""
    found = []
    for number, line in enumerate(text.split("\n"), start=1):
        for pattern in sorted(LIBRARY, key=lambda p: p.id):
            m = pattern.regex.search(line)
            if m:
                found.append(Match(pattern.id, number, m.start(), m.end(), line, m.groups()))
    return found


def describe(matches: list[Match]) -> list[tuple[int, int, str]]:
    """(id, specificity, label) of each match, for assertion messages."""
    return [
        (m.pattern_id, BY_ID[m.pattern_id].specificity, BY_ID[m.pattern_id].label) for m in matches
    ]


# -- the library as a whole --------------------------------------------------


def test_library_loads_with_unique_consecutive_ids() -> None:
    ids = [p.id for p in LIBRARY]
    assert len(LIBRARY) >= 70
    assert len(set(ids)) == len(ids)
    assert ids == list(range(1, len(LIBRARY) + 1))


@pytest.mark.parametrize("pattern", LIBRARY, ids=lambda p: f"pattern-{p.id}")
def test_pattern_is_well_formed(pattern: Pattern) -> None:
    validate(pattern)
    assert pattern.description.strip()
    assert pattern.tags, "at least one tag"
    assert set(pattern.tags) <= TAGS, f"unknown tags {set(pattern.tags) - TAGS}"
    assert len(set(pattern.tags)) == len(pattern.tags)
    assert pattern.author == "citriage"
    assert pattern.created == CREATED
    assert not pattern.is_retired
    assert pattern.applicable_steps == ()
    assert pattern.lines_from_end is None
    assert 1 <= pattern.specificity <= 6
    if pattern.is_regex:
        assert "(?i" not in pattern.expression
        assert not pattern.expression.startswith((".*", "^.*"))
        # a capture group holds the part that varies from run to run
        assert pattern.has_nondeterministic_values == (pattern.regex.groups > 0)
    else:
        assert not pattern.has_nondeterministic_values


@pytest.mark.parametrize("pattern", LIBRARY, ids=lambda p: f"pattern-{p.id}")
def test_pattern_has_a_prefilter_string(pattern: Pattern) -> None:
    """No pattern falls back to being searched on every line of every log."""
    if pattern.is_regex:
        required = regex_analysis.required_literals(pattern.expression)
        assert required is not None
        assert min(len(s) for s in required) >= regex_analysis.MIN_PREFILTER_LENGTH
    else:
        assert len(pattern.expression) >= regex_analysis.MIN_PREFILTER_LENGTH


def test_flaky_and_infra_failures_are_not_blamed_on_generic_lines() -> None:
    """Network and infra patterns are specific causes, never the generic level."""
    for pattern in LIBRARY:
        if {"flaky", "infra"} & set(pattern.tags):
            assert pattern.specificity >= 2, pattern.label
        if pattern.specificity == 1:
            assert not {"flaky", "infra", "oom"} & set(pattern.tags), pattern.label


def test_every_pattern_has_an_example() -> None:
    assert {i for i, _ in EXAMPLES} == set(BY_ID)


# -- examples ------------------------------------------------------------------


@pytest.mark.parametrize(("expected", "line"), EXAMPLES)
def test_example_best_match(pattern_set: PatternSet, expected: int, line: str) -> None:
    matches = scan(pattern_set, line)
    winner = best_match(matches, pattern_of=lambda i: BY_ID[i])
    assert winner is not None, f"nothing matched {line!r}"
    assert winner.pattern_id == expected, describe(matches)


@pytest.mark.parametrize("line", HARMLESS)
def test_harmless_line_matches_nothing(pattern_set: PatternSet, line: str) -> None:
    assert scan(pattern_set, line) == [], describe(scan(pattern_set, line))


@pytest.mark.parametrize(("expected", "log"), SCENARIOS)
def test_cause_outranks_symptoms(pattern_set: PatternSet, expected: int, log: str) -> None:
    winner = best(pattern_set, log)
    assert winner is not None
    assert winner.pattern_id == expected, describe(scan(pattern_set, log))


# -- both engines find exactly what `re` finds -------------------------------

ALL_LINES = "\n".join([line for _, line in EXAMPLES] + HARMLESS)


@pytest.mark.parametrize(
    "engine",
    [
        pytest.param(
            "hyperscan",
            marks=pytest.mark.skipif(not HAVE_HYPERSCAN, reason="hyperscan is not installed"),
        ),
        "re",
    ],
)
def test_engine_finds_every_match(engine: EngineName) -> None:
    patterns = PatternSet(LIBRARY, engine)
    assert patterns.engine == engine
    assert scan(patterns, ALL_LINES) == reference_matches(ALL_LINES)


@pytest.mark.skipif(not HAVE_HYPERSCAN, reason="hyperscan is not installed")
def test_engines_agree_on_each_line() -> None:
    """Line by line too, so that a difference names the line it is on."""
    with_hyperscan, with_re = PatternSet(LIBRARY, "hyperscan"), PatternSet(LIBRARY, "re")
    for line in ALL_LINES.split("\n"):
        assert scan(with_hyperscan, line) == scan(with_re, line), line
