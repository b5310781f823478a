"""Parses an OpenMetrics exposition with the `prometheus_client` package's own parser.

Usage: python3 metrics_check.py < exposition
Prints one line per sample, "<name> <labels as k=v,...> <value>", sorted; exits non-zero with
the parser's message when the exposition is not valid OpenMetrics.
"""
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families


def main():
    text = sys.stdin.read()
    lines = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            lines.append(f"{sample.name} {labels} {sample.value:g}")
    print("\n".join(sorted(lines)))


if __name__ == "__main__":
    main()
