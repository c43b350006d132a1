"""Ships templates/, static/, policies/ and migrations/ inside the wheel as sakskydd/<name>/.

Everything else about the package is in pyproject.toml; setuptools cannot map top-level
folders into a package from pyproject.toml alone when packages are also discovered.
"""

from pathlib import Path

from setuptools import find_packages, setup

RESOURCES = ("templates", "static", "policies", "migrations")


def files_under(folder: str) -> list[str]:
    root = Path(__file__).resolve().parent / folder
    return sorted(
        str(path.relative_to(root))
        for path in root.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    )


setup(
    packages=[
        *find_packages(include=["sakskydd", "sakskydd.*"]),
        *(f"sakskydd.{name}" for name in RESOURCES),
    ],
    package_dir={f"sakskydd.{name}": name for name in RESOURCES},
    package_data={
        "sakskydd": ["accounts/*.txt"],
        **{f"sakskydd.{name}": files_under(name) for name in RESOURCES},
    },
    include_package_data=False,
)
