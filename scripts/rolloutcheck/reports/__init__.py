"""What a run says: aggregation, JUnit and Markdown, the HTML report, merging runs of several machines."""
