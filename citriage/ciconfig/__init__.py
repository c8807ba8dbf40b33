"""Which CI jobs a commit's configuration asks for, named as the providers report them.

Pure Python, no Django: `yamlload` reads YAML safely (bounded size and alias
expansion, the YAML 1.2 liberties real configurations take), `expressions`
evaluates GitHub Actions expressions where the context allows (else "unknown"),
`circleci` and `actions` turn `.circleci/config.yml` and `.github/workflows/*.yml`
into expected jobs for one context (an event on a branch), `plan` holds what they
share. A configuration that cannot be understood is a `ConfigError` with the reason.
"""
