"""One module per page of the main window; each page only wires widgets to core."""
