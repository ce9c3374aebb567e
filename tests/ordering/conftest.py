import pytest

from tests.support.shop import Shop, build_shop


@pytest.fixture
def shop(app) -> Shop:
    return build_shop()
