from app.server import serve

serve()
