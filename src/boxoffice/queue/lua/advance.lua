return {'OK', NOW, advance()}
