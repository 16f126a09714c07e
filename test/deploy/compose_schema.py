"""Validates a Compose file against the Compose Specification's JSON schema.

    python compose_schema.py SCHEMA.json COMPOSE.yaml

Prints one line per error (path: message) and exits 1 when there is any. The project's
venv has jsonschema and PyYAML (Jupyter Server's dependencies).
"""
import json
import sys

import jsonschema
import yaml

schema = json.load(open(sys.argv[1]))
document = yaml.safe_load(open(sys.argv[2]))
validator = jsonschema.validators.validator_for(schema)(schema)
errors = sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.path)))
for error in errors:
    print("/".join(map(str, error.path)) + ": " + error.message)
sys.exit(1 if errors else 0)
