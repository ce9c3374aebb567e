"""Unbound extension objects; create_app() binds them."""

from typing import TYPE_CHECKING

from flask_babel import Babel
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from portal.core.base import Base

db = SQLAlchemy(model_class=Base)

# Models subclass `Model`: at run time Flask-SQLAlchemy's `db.Model` (built on `Base`, with its
# session binding); to a type checker, the typed declarative `Base` it is made from, since a
# class attribute like `db.Model` cannot serve as a base class in a type annotation.
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
