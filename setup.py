"""Packaging's one part that pyproject.toml cannot say: the page's files, which live at the top
of the repository (static/, templates/), are shipped inside the package as visualiser/static
and visualiser/templates, where create_app looks for them first."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["visualiser", "visualiser.*"]), "visualiser.static", "visualiser.templates"],
    package_dir={"visualiser.static": "static", "visualiser.templates": "templates"},
    package_data={"visualiser.static": ["**/*"], "visualiser.templates": ["*"]},
)
