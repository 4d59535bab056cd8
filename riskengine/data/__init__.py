"""The data stage: price files, their screen, sleeves and the dates a user types.

`prices` loads and validates price panels into a `Market`; `screen` judges each
move point in time; `sleeves` maps assets to sleeves and investability; `csvfile`
reads tables; `dates` parses the dates of the command line and the API.
"""
