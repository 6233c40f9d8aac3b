#!/usr/bin/env python3
"""Renders and lints a Helm chart with Helm's own Go SDK (Helm v4, through the
helm-python-sdk package's libhelm_c, installed by scripts/test-deps.sh into
tests/helm/venv), the way `helm template` and `helm lint` do, without a cluster.

    tests/helm/venv/bin/python tests/helm/render.py CHART RELEASE NAMESPACE [VALUES_JSON]

Prints one JSON object: {"manifests": {template path: rendered text},
"lint": {"messages": [{"severity", "path", "error"}], ...}, "helm": version}.
The values, if given, are merged over the chart's values.yaml as `--values`
would. Exits 1 if the chart cannot be loaded or a template fails to render.
"""
import json
import sys

import helm_python as helm


def main() -> int:
    if len(sys.argv) not in (4, 5):
        print(__doc__, file=sys.stderr)
        return 2
    chart_dir, release, namespace = sys.argv[1:4]
    values = json.loads(sys.argv[4]) if len(sys.argv) == 5 else {}
    with helm.Chart.load(chart_dir) as chart:
        manifests = chart.render(values, name=release, namespace=namespace)
    report = helm.lint(chart_dir, values, strict=True, namespace=namespace)
    print(json.dumps({
        "manifests": manifests,
        "lint": report,
        "helm": helm.helm_sdk_version(),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
