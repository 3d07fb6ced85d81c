"""Pure data: cell kinds and their declared pipelines, what a cell reports, and the run folder's layout."""
