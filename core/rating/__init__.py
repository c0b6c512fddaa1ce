"""People as raters: agreement between and within raters, hidden repeats, active
labelling and pseudonyms for anonymised exports."""
