"""The report's sections: each module renders one section or a family of them as Markdown lines."""
