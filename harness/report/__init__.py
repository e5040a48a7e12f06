"""What a run leaves for people and CI: JUnit XML, the JSON summary (run.json), the HTML report."""
