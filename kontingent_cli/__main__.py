from kontingent_cli.main import app

app(prog_name="kontingent")
