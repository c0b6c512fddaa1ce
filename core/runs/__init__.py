"""Run bundles: exporting a run with what it needs to resume, importing one as data."""
